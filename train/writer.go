package train

// fileWriter writes a run's files (the checkpoint, the best model so far)
// in the background, so that the next epoch trains while they are written
// and synced, as asynchronous checkpointing does elsewhere. Each job works
// on a snapshot taken when it is queued; a job waits for the one before
// it, so at most one is in flight and files land in the order queued. A
// job's error is returned by the next queue or by wait.
type fileWriter struct {
	done chan error // the job in flight; nil when none
}

// queue waits for the job in flight, then starts job.
func (w *fileWriter) queue(job func() error) error {
	if err := w.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	w.done = done
	go func() { done <- job() }()
	return nil
}

// wait returns once no job is in flight, with the last job's error.
func (w *fileWriter) wait() error {
	if w.done == nil {
		return nil
	}
	err := <-w.done
	w.done = nil
	return err
}
