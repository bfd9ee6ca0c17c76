package dnnl

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"trashsort/tensor"
)

// bf16Bytes rounds x to bfloat16 (to nearest even) and stores it.
func bf16Bytes(x []float32) []byte {
	out := make([]byte, 2*len(x))
	for i, v := range x {
		u := math.Float32bits(v)
		u += 0x7fff + (u>>16)&1
		binary.LittleEndian.PutUint16(out[2*i:], uint16(u>>16))
	}
	return out
}

func fromBF16(b []byte) []float32 {
	out := make([]float32, len(b)/2)
	for i := range out {
		out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
	}
	return out
}

// u8Bytes quantizes x with scale s (round half away from zero, saturated).
func u8Bytes(x []float32, s float32) []byte {
	out := make([]byte, len(x))
	for i, v := range x {
		out[i] = byte(math.Max(0, math.Min(255, math.Round(float64(v*s)))))
	}
	return out
}

func fromU8(b []byte, s float32) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = float32(v) / s
	}
	return out
}

func maxAbs(x []float32) float32 {
	m := float32(0)
	for _, v := range x {
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m
}

// TestConvForwardActMatchesReference runs every kernel shape with inputs
// and outputs kept in bfloat16 or u8 against the float32 reference on the
// same (rounded) input.
func TestConvForwardActMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, tc := range convCases {
		g, err := tensor.NewConvGeom(tc.n, tc.h, tc.w, tc.c, tc.f, tc.kh, tc.kw, tc.s, tc.s, tc.pad, tc.groups)
		if err != nil {
			t.Fatal(err)
		}
		x, w, b := randSlice(r, g.InLen()), randSlice(r, g.WeightLen()), randSlice(r, g.F)
		for i := range x {
			x[i] = float32(math.Abs(float64(x[i]))) // a ReLU output
		}
		cw := NewConvWeights(w, b)
		xs := 255 / maxAbs(x)
		xq := u8Bytes(x, xs)
		for _, act := range []Activation{ReLU, ReLU6} {
			ref := func(in []float32) []float32 {
				y := make([]float32, g.OutLen())
				tensor.ConvForward(g, in, w, b, y)
				tensor.ActivationForward(int(act), y, y)
				return y
			}
			want := ref(x)
			ys := 255 / maxAbs(want)
			tol8 := int8Tol
			if act == ReLU6 {
				// Clipping caps the reference's norm but not the errors
				// below the bound, so the relative error doubles.
				tol8 *= 2.5
			}
			cases := []struct {
				name string
				dt   DataType
				x    Act
				yT   DataType
				ref  []float32 // the reference on the input as stored
				tol  float64
			}{
				{"f32 in u8, out f32", F32, Act{Type: U8, Scale: xs, Data: xq}, F32, ref(fromU8(xq, xs)), 1e-5},
				{"bf16 in bf16, out bf16", BF16, Act{Type: BF16, Data: bf16Bytes(x)}, BF16, want, 2e-2},
				{"bf16 in f32, out bf16", BF16, ActF32(x), BF16, want, 2e-2},
				{"bf16 in bf16, out f32", BF16, Act{Type: BF16, Data: bf16Bytes(x)}, F32, want, 2e-2},
				{"int8 in u8, out u8", U8, Act{Type: U8, Scale: xs, Data: xq}, U8, want, int8Tol},
				{"int8 in u8, out f32", U8, Act{Type: U8, Scale: xs, Data: xq}, F32, want, int8Tol},
				{"int8 in f32, out u8", U8, ActF32(x), U8, want, int8Tol},
				{"int8 in f32, out f32", U8, ActF32(x), F32, want, int8Tol},
			}
			for _, c := range cases {
				t.Run(fmt.Sprintf("%v/%v/%s", tc, act, c.name), func(t *testing.T) {
					if c.dt == U8 && !HasInt8() || c.dt == BF16 && !HasBF16() {
						t.Skipf("no %v kernels on this CPU", c.dt)
					}
					if (c.x.Type == U8 || c.yT == U8) && !HasVNNI() {
						t.Skip("u8 activations are stored between layers only with VNNI (U8Top)")
					}
					y := Act{Type: c.yT, Data: make([]byte, c.yT.Size(g.OutLen()))}
					if c.yT == U8 {
						y.Scale = ys
					}
					if err := cw.ForwardAct(g, c.x, y, act, c.dt, Int8Range{Max: maxAbs(x)}); err != nil {
						t.Fatal(err)
					}
					tol := c.tol
					if c.dt == U8 {
						tol = tol8
					}
					var got []float32
					switch c.yT {
					case F32:
						got = fromF32(y.Data)
					case BF16:
						got = fromBF16(y.Data)
					case U8:
						got = fromU8(y.Data, ys)
					}
					if e := tensor.RelErr(got, c.ref); e > tol || (c.dt != F32 && e == 0) {
						t.Errorf("rel err %g, want (0, %g]", e, tol)
					}
				})
			}
		}
	}
}

func fromF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestU8OutputClipsReLU6: ReLU6's bound is in float units, not the u8
// output's: with scale 255/6 the output saturates at 6, not at 6/scale.
func TestU8OutputClipsReLU6(t *testing.T) {
	if !HasInt8() {
		t.Skip("no VNNI")
	}
	g, err := tensor.NewConvGeom(1, 1, 4, 1, 1, 1, 1, 1, 1, tensor.Valid, 1)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 3, 5, 7}
	y := Act{Type: U8, Scale: 255.0 / 8, Data: make([]byte, 4)}
	if err := NewConvWeights([]float32{1}, nil).ForwardAct(g, ActF32(x), y, ReLU6, U8, Int8Range{Max: 8}); err != nil {
		t.Fatal(err)
	}
	got := fromU8(y.Data, y.Scale)
	want := []float32{1, 3, 5, 6}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 0.05 {
			t.Fatalf("u8 ReLU6 output %v, want %v", got, want)
		}
	}
}

func TestPoolAndConcatAct(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	for _, alg := range []PoolAlg{MaxPool, AvgPool} {
		for _, dt := range []DataType{BF16, U8} {
			t.Run(fmt.Sprintf("pool%d/%v", alg, dt), func(t *testing.T) {
				if dt == BF16 && !HasBF16() {
					t.Skip("no bf16 here")
				}
				g, err := tensor.NewConvGeom(2, 9, 9, 16, 16, 3, 3, 1, 1, tensor.Same, 16)
				if err != nil {
					t.Fatal(err)
				}
				x := randSlice(r, g.InLen())
				for i := range x {
					x[i] = float32(math.Abs(float64(x[i])))
				}
				s := 255 / maxAbs(x)
				var xa Act
				var in []float32
				if dt == U8 {
					xa = Act{Type: U8, Scale: s, Data: u8Bytes(x, s)}
					in = fromU8(xa.Data, s)
				} else {
					xa = Act{Type: BF16, Data: bf16Bytes(x)}
					in = fromBF16(xa.Data)
				}
				want := make([]float32, g.OutLen())
				tensor.PoolForward(int(alg), g, in, want)
				y := Act{Type: dt, Scale: xa.Scale, Data: make([]byte, dt.Size(g.OutLen()))}
				if err := PoolForwardAct(alg, g, xa, y); err != nil {
					t.Fatal(err)
				}
				var got []float32
				tol := 0.0
				if dt == U8 {
					got, tol = fromU8(y.Data, s), 1/float64(s) // one step of rounding
				} else {
					got, tol = fromBF16(y.Data), float64(maxAbs(x))/128
				}
				for i := range want {
					if math.Abs(float64(got[i]-want[i])) > tol {
						t.Fatalf("value %d: %g, want %g ± %g", i, got[i], want[i], tol)
					}
				}
				if alg == MaxPool && dt == U8 {
					// Max pooling picks stored values: exact.
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("max pool u8 value %d: %g, want %g", i, got[i], want[i])
						}
					}
				}
				bad := y
				bad.Scale *= 2
				if dt == U8 && PoolForwardAct(alg, g, xa, bad) == nil {
					t.Error("pooling to another scale accepted")
				}
			})
		}
	}
	// Concat moves bytes: the u8 result is the parts side by side.
	rows, widths := 6, []int{3, 5, 2}
	var parts []Act
	var want []byte
	for _, w := range widths {
		p := make([]byte, rows*w)
		for i := range p {
			p[i] = byte(r.IntN(256))
		}
		parts = append(parts, Act{Type: U8, Scale: 2, Data: p})
	}
	for row := 0; row < rows; row++ {
		for k, w := range widths {
			want = append(want, parts[k].Data[row*w:(row+1)*w]...)
		}
	}
	y := Act{Type: U8, Scale: 2, Data: make([]byte, len(want))}
	if err := ConcatAct(rows, widths, parts, y); err != nil {
		t.Fatal(err)
	}
	if string(y.Data) != string(want) {
		t.Errorf("u8 concat %v, want %v", y.Data, want)
	}
	parts[1].Scale = 3
	if ConcatAct(rows, widths, parts, y) == nil {
		t.Error("concat of parts with different scales accepted")
	}
}
