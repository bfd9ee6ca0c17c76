// Package pipelines holds trashsort's Apache Beam pipelines, which run on
// Beam's local Prism runner or on Flink, Spark or Google Cloud Dataflow:
// Predict classifies every image a set of paths or globs matches into
// sharded JSON lines, and Features computes the frozen backbone's cached
// activations for train's feature cache in pieces.
//
// The work of each element is a trashsort library call (batch.Predictor,
// train.FeaturePlan); the pipelines only spread it out, so their answers are
// those of trashsort predict and trashsort train. This package lives in a
// Go module of its own so that trashsort itself never compiles Beam.
package pipelines
