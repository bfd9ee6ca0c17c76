package dnnl

import (
	"fmt"
	"unsafe"

	"trashsort/tensor"
)

// Act is an NHWC activation tensor stored as float32, bfloat16 or
// unsigned 8-bit integers. Frozen layers in inference can pass their
// activations to each other in bfloat16 or u8, halving or quartering the
// memory traffic, where the layer that reads them computes in that type
// anyway.
type Act struct {
	Type DataType // F32, BF16 or U8
	// Scale is a u8 activation's quantization scale: the stored value q
	// stands for q / Scale. Values below zero are stored as 0.
	Scale float32
	Data  []byte
}

// ActF32 is the float32 activation stored in x.
func ActF32(x []float32) Act {
	if len(x) == 0 {
		return Act{Type: F32}
	}
	return Act{Type: F32, Data: unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))}
}

// Size is the number of bytes n values of type dt take.
func (dt DataType) Size(n int) int {
	switch dt {
	case F32:
		return 4 * n
	case BF16:
		return 2 * n
	}
	return n
}

// len is the number of values a holds.
func (a Act) len() int {
	switch a.Type {
	case F32:
		return len(a.Data) / 4
	case BF16:
		return len(a.Data) / 2
	}
	return len(a.Data)
}

func (a Act) String() string {
	if a.Type == U8 {
		return fmt.Sprintf("u8 (scale %g)", a.Scale)
	}
	return a.Type.String()
}

func (a Act) valid() error {
	switch a.Type {
	case F32, BF16:
		return nil
	case U8:
		if !(a.Scale > 0) || a.Scale > 1e30 {
			return fmt.Errorf("dnnl: u8 activation with scale %v", a.Scale)
		}
		return nil
	}
	return fmt.Errorf("dnnl: activation of type %v", a.Type)
}

// ForwardAct computes y = act(conv(x, w) + b) with the held weights in
// data type dt: F32, BF16, or U8 for 8-bit integers (as ForwardInt8, with
// input range r when x is float32; a u8 x brings its own scale). x may be
// stored in any type (it is converted to dt); y is F32, or BF16 when dt is
// BF16, or U8 when dt is U8. A u8 y stores values below zero as 0, so it
// suits outputs of ReLU and ReLU6. On CPUs without VNNI or AVX512_BF16,
// int8 and bfloat16 compute in float32 (the output types are kept).
func (cw *ConvWeights) ForwardAct(g tensor.ConvGeom, x, y Act, act Activation, dt DataType, r Int8Range) error {
	if err := validGeom(g); err != nil {
		return err
	}
	if err := x.valid(); err != nil {
		return err
	}
	if err := y.valid(); err != nil {
		return err
	}
	what := "convolution forward (" + dt.String() + ")"
	if err := checkLens(what, x.len(), g.InLen(), len(cw.w), g.WeightLen(), y.len(), g.OutLen()); err != nil {
		return err
	}
	if y.Type != F32 && y.Type != dt {
		return fmt.Errorf("dnnl: %s: %v output", what, y)
	}
	// Stored u8 codes reach 255, which only VNNI's kernels take whole
	// (U8Top); elsewhere such an input runs in float32.
	if dt == U8 && (!HasInt8() || x.Type == U8 && !HasVNNI()) || dt == BF16 && !HasBF16() {
		dt = F32
	}
	return do(func() error {
		if dt == U8 {
			if x.Type == U8 {
				r = Int8Range{Max: U8Top() / x.Scale}
			}
			xT := x.Type
			if xT != U8 {
				xT = F32
			}
			var out float32
			if y.Type == U8 {
				out = y.Scale
			}
			if x.Type == BF16 {
				return fmt.Errorf("dnnl: %s: bf16 input", what)
			}
			o, err := cw.int8Op(g, act, r, xT, y.Type, out)
			if err != nil {
				return err
			}
			if o.xStep >= 0 {
				if err := o.run(o.xStep, h{ptr(x.Data)}); err != nil {
					return err
				}
				return o.run(len(o.steps)-1, h{nil, nil, ptr(y.Data)})
			}
			return o.run(len(o.steps)-1, h{ptr(x.Data), nil, ptr(y.Data)})
		}
		k := convIO{g: g, dt: dt, xT: x.Type, yT: y.Type, bias: cw.b != nil, act: act, wino: Winograd}
		if x.Type == U8 {
			k.xScale = x.Scale
		}
		o, err := convIOOp(k)
		if err != nil {
			return err
		}
		p, err := cw.packed(o)
		if err != nil {
			return err
		}
		return o.runConv(ptr(x.Data), nil, p, ptr(cw.b), ptr(y.Data))
	})
}

// PoolForwardAct is inference-mode PoolForward on activations of one
// storage type (a u8 y has x's scale).
func PoolForwardAct(alg PoolAlg, g tensor.ConvGeom, x, y Act) error {
	if err := validPool(alg, g); err != nil {
		return err
	}
	if err := x.valid(); err != nil {
		return err
	}
	if x.Type != y.Type || x.Scale != y.Scale {
		return fmt.Errorf("dnnl: pooling from %v to %v", x, y)
	}
	if err := checkLens("pooling forward", x.len(), g.InLen(), y.len(), g.OutLen()); err != nil {
		return err
	}
	return do(func() error {
		o, err := poolForwardOpOf(alg, g, false, x.Type)
		if err != nil {
			return err
		}
		return o.run(0, h{ptr(x.Data), ptr(y.Data)})
	})
}
