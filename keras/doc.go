// Package keras writes a classifier in the formats Keras users already
// run, and reads them back: the Keras 2 full-model .h5 file that
// model.save writes and keras.models.load_model reads (WriteH5, LoadH5),
// and the TensorFlow.js Layers format, model.json with its weight shards
// (WriteTFJS, LoadTFJS). Both hold the same functional graph, layer for
// layer with Keras' class names, configurations and weight names, since
// trashsort's graph is already Keras'.
//
// What the exports hold beyond the network is in Info: classes, input
// size, preprocessing (a Rescaling layer inside the model with
// Options.Preprocessing, otherwise applied by the caller as
// keras.applications' preprocess_input is), the calibration temperature
// (folded into the last Dense layer unless Options.Uncalibrated) and the
// "unsure" threshold, which no Keras layer applies.
package keras
