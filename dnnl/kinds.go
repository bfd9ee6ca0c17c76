package dnnl

/*
#include "ts_dnnl.h"
*/
import "C"

import (
	"fmt"

	"trashsort/tensor"
)

// Activation is a pointwise activation that oneDNN applies on its own or
// fused into a convolution or inner product as a post-op. Its values are
// those of package tensor's reference kernels.
type Activation int

// The activations oneDNN computes here.
const (
	Linear  Activation = tensor.Linear
	ReLU    Activation = tensor.ReLU
	ReLU6   Activation = tensor.ReLU6
	Sigmoid Activation = tensor.Sigmoid
	// Swish's backward pass reads the input: see ActivationBackwardFromInput.
	Swish Activation = tensor.Swish
)

func (a Activation) String() string {
	switch a {
	case Linear:
		return "linear"
	case ReLU:
		return "relu"
	case ReLU6:
		return "relu6"
	case Sigmoid:
		return "sigmoid"
	case Swish:
		return "swish"
	}
	return fmt.Sprintf("activation(%d)", int(a))
}

// eltwise is the oneDNN algorithm and its alpha and beta for a forward
// post-op or a standalone forward activation. Linear has none.
func (a Activation) eltwise() (alg C.dnnl_alg_kind_t, alpha, beta C.float, ok bool) {
	switch a {
	case ReLU:
		return C.dnnl_eltwise_relu, 0, 0, true
	case ReLU6:
		return C.dnnl_eltwise_clip, 0, 6, true
	case Sigmoid:
		return C.dnnl_eltwise_logistic, 0, 0, true
	case Swish:
		return C.dnnl_eltwise_swish, 1, 0, true
	}
	return 0, 0, 0, false
}

// eltwiseTraining is the algorithm of a training-mode activation: one whose
// backward pass reads the forward output rather than the input where there
// is one (all but Swish).
func (a Activation) eltwiseTraining() (alg C.dnnl_alg_kind_t, alpha, beta C.float, ok bool) {
	switch a {
	case ReLU:
		return C.dnnl_eltwise_relu_use_dst_for_bwd, 0, 0, true
	case ReLU6:
		return C.dnnl_eltwise_clip_v2_use_dst_for_bwd, 0, 6, true
	case Sigmoid:
		return C.dnnl_eltwise_logistic_use_dst_for_bwd, 0, 0, true
	case Swish:
		return a.eltwise()
	}
	return 0, 0, 0, false
}

// backwardFromInput reports whether the activation's derivative needs the
// forward input (it cannot be had from the output).
func (a Activation) backwardFromInput() bool { return a == Swish }

// PoolAlg is a pooling algorithm. Its values are those of package tensor.
type PoolAlg int

// The pooling algorithms: average pooling excludes padding, as
// TensorFlow's SAME pooling does.
const (
	MaxPool PoolAlg = tensor.MaxPool
	AvgPool PoolAlg = tensor.AvgPool
)

func (p PoolAlg) alg() C.dnnl_alg_kind_t {
	if p == AvgPool {
		return C.dnnl_pooling_avg_exclude_padding
	}
	return C.dnnl_pooling_max
}

func (p PoolAlg) valid() bool { return p == MaxPool || p == AvgPool }

// prop is a propagation kind: which pass a primitive computes.
type prop int

const (
	inference       prop = iota // forward, keeping nothing for a backward pass
	training                    // forward, keeping what backward needs (workspace, statistics)
	backward                    // backward of data and of the parameters together (batch norm, pooling)
	backwardData                // backward to the input only
	backwardWeights             // backward to the weights and bias only
)

func (p prop) kind() C.dnnl_prop_kind_t {
	switch p {
	case inference:
		return C.dnnl_forward_inference
	case training:
		return C.dnnl_forward_training
	case backwardData:
		return C.dnnl_backward_data
	case backwardWeights:
		return C.dnnl_backward_weights
	}
	return C.dnnl_backward
}

// DataType is the element type in which oneDNN computes a convolution
// (its input and weights are converted to it and products accumulate in
// float32), or in which an activation is stored (see Act).
type DataType int

// The data types of forward convolutions.
const (
	F32  DataType = iota // float32
	BF16                 // bfloat16: float32's top 16 bits (8 significant bits)
	s8                   // signed 8-bit integers (quantized inputs and weights)
	U8                   // unsigned 8-bit integers (quantized non-negative values)
)

func (d DataType) String() string {
	return [...]string{"f32", "bf16", "s8", "u8"}[d]
}

func (d DataType) c() C.dnnl_data_type_t {
	return [...]C.dnnl_data_type_t{C.dnnl_f32, C.dnnl_bf16, C.dnnl_s8, C.dnnl_u8}[d]
}
