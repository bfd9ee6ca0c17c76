package train

import (
	"encoding/json"
	"math"
	"strconv"
)

// jsonFloat is a float64 whose JSON form also holds NaN and the infinities
// (as the strings "NaN", "+Inf", "-Inf"), which encoding/json refuses: a
// diverged validation loss must not make the checkpoint unwritable.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*f = jsonFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// MarshalJSON writes the log with non-finite values as strings (jsonFloat).
func (e EpochLog) MarshalJSON() ([]byte, error) {
	type plain EpochLog
	return json.Marshal(struct {
		plain
		Loss    jsonFloat `json:"loss"`
		Acc     jsonFloat `json:"accuracy"`
		ValLoss jsonFloat `json:"val_loss"`
		ValAcc  jsonFloat `json:"val_accuracy"`
		LR      jsonFloat `json:"lr"`
	}{plain(e), jsonFloat(e.Loss), jsonFloat(e.Acc), jsonFloat(e.ValLoss), jsonFloat(e.ValAcc), jsonFloat(e.LR)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EpochLog) UnmarshalJSON(b []byte) error {
	type plain EpochLog
	var aux struct {
		plain
		Loss    jsonFloat `json:"loss"`
		Acc     jsonFloat `json:"accuracy"`
		ValLoss jsonFloat `json:"val_loss"`
		ValAcc  jsonFloat `json:"val_accuracy"`
		LR      jsonFloat `json:"lr"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = EpochLog(aux.plain)
	e.Loss, e.Acc, e.ValLoss, e.ValAcc, e.LR = float64(aux.Loss), float64(aux.Acc), float64(aux.ValLoss), float64(aux.ValAcc), float64(aux.LR)
	return nil
}

// MarshalJSON writes the state with a non-finite best loss as a string.
func (s state) MarshalJSON() ([]byte, error) {
	type plain state
	return json.Marshal(struct {
		plain
		StageBestLoss jsonFloat `json:"stage_best_loss"`
	}{plain(s), jsonFloat(s.StageBestLoss)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *state) UnmarshalJSON(b []byte) error {
	type plain state
	var aux struct {
		plain
		StageBestLoss jsonFloat `json:"stage_best_loss"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = state(aux.plain)
	s.StageBestLoss = float64(aux.StageBestLoss)
	return nil
}
