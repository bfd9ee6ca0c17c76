package h5

/*
#cgo pkg-config: hdf5
#include <stdlib.h>
#include <hdf5.h>

static hid_t ts_create(const char *path) {
	return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

static hid_t ts_lcpl(void) {
	hid_t p = H5Pcreate(H5P_LINK_CREATE);
	if (p >= 0) H5Pset_create_intermediate_group(p, 1);
	return p;
}

// ts_ensure_group creates the group at path (and its parents) unless it exists.
static int ts_ensure_group(hid_t f, const char *path) {
	if (H5Lexists(f, path, H5P_DEFAULT) > 0) return 0;
	hid_t p = ts_lcpl();
	hid_t g = H5Gcreate2(f, path, p, H5P_DEFAULT, H5P_DEFAULT);
	H5Pclose(p);
	if (g < 0) return -1;
	H5Gclose(g);
	return 0;
}

// ts_write_strings writes n fixed-length, null-padded strings of width
// bytes from buf as attribute name of obj, as h5py stores numpy byte strings.
static int ts_write_strings(hid_t f, const char *obj, const char *name, const char *buf, long long n, long long width) {
	hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
	if (o < 0) return -1;
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, (size_t)width);
	H5Tset_strpad(t, H5T_STR_NULLPAD);
	hsize_t dims[1] = {(hsize_t)n};
	hid_t s = H5Screate_simple(1, dims, NULL);
	if (H5Aexists(o, name) > 0) H5Adelete(o, name);
	hid_t a = H5Acreate2(o, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
	int r = -2;
	if (a >= 0) {
		r = H5Awrite(a, t, buf) < 0 ? -3 : 0;
		H5Aclose(a);
	}
	H5Sclose(s);
	H5Tclose(t);
	H5Oclose(o);
	return r;
}

// ts_write_string writes value (n bytes, UTF-8) as a scalar variable-length
// string attribute name of obj, as h5py stores a Python str. The string
// lives in the file's global heap, so it may exceed the 64 KiB that an
// object header holds (Keras' model_config of a large model does).
static int ts_write_string(hid_t f, const char *obj, const char *name, const char *value) {
	hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
	if (o < 0) return -1;
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	hid_t s = H5Screate(H5S_SCALAR);
	if (H5Aexists(o, name) > 0) H5Adelete(o, name);
	hid_t a = H5Acreate2(o, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
	int r = -2;
	if (a >= 0) {
		r = H5Awrite(a, t, &value) < 0 ? -3 : 0;
		H5Aclose(a);
	}
	H5Sclose(s);
	H5Tclose(t);
	H5Oclose(o);
	return r;
}

// ts_write_floats writes float32 data at path as a dataset of float32 or,
// with as_int64, int64 values, creating parent groups.
static int ts_write_floats(hid_t f, const char *path, int nd, const long long *dims, const float *data, int as_int64) {
	hsize_t hd[8];
	for (int i = 0; i < nd; i++) hd[i] = (hsize_t)dims[i];
	hid_t s = H5Screate_simple(nd, hd, NULL);
	if (s < 0) return -1;
	hid_t p = ts_lcpl();
	hid_t d = H5Dcreate2(f, path, as_int64 ? H5T_STD_I64LE : H5T_IEEE_F32LE, s, p, H5P_DEFAULT, H5P_DEFAULT);
	H5Pclose(p);
	int r = -2;
	if (d >= 0) {
		r = 0;
		if (data != NULL && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) r = -3;
		H5Dclose(d);
	}
	H5Sclose(s);
	return r;
}
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Create creates (or truncates) an HDF5 file for writing; the File also
// reads what has been written.
func Create(path string) (*File, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	id := C.ts_create(cp)
	if id < 0 {
		return nil, fmt.Errorf("h5: %s: cannot create", path)
	}
	return &File{id: id, path: path}, nil
}

// WriteStrings stores vals as a 1-D fixed-length string attribute of the
// group obj ("/" for the root), creating the group when needed. Keras
// stores layer_names and weight_names this way.
func (f *File) WriteStrings(obj, name string, vals []string) error {
	width := 1
	for _, v := range vals {
		width = max(width, len(v))
	}
	buf := make([]byte, width*max(len(vals), 1))
	for i, v := range vals {
		copy(buf[i*width:], v)
	}
	co, cn := C.CString(obj), C.CString(name)
	defer C.free(unsafe.Pointer(co))
	defer C.free(unsafe.Pointer(cn))
	mu.Lock()
	defer mu.Unlock()
	if obj != "/" && C.ts_ensure_group(f.id, co) != 0 {
		return fmt.Errorf("h5: %s: cannot create group %q", f.path, obj)
	}
	if r := C.ts_write_strings(f.id, co, cn, (*C.char)(unsafe.Pointer(&buf[0])), C.longlong(len(vals)), C.longlong(width)); r != 0 {
		return fmt.Errorf("h5: %s: cannot write attribute %s/%s (code %d)", f.path, obj, name, int(r))
	}
	return nil
}

// WriteString stores value as a scalar variable-length UTF-8 string
// attribute of the group obj ("/" for the root), creating the group when
// needed, as h5py stores a Python str (Keras' model_config, keras_version
// and backend). Its size is not bounded by the object header's 64 KiB.
func (f *File) WriteString(obj, name, value string) error {
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Errorf("h5: %s: attribute %s/%s: a string attribute cannot hold a NUL byte", f.path, obj, name)
	}
	co, cn, cv := C.CString(obj), C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(co))
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cv))
	mu.Lock()
	defer mu.Unlock()
	if obj != "/" && C.ts_ensure_group(f.id, co) != 0 {
		return fmt.Errorf("h5: %s: cannot create group %q", f.path, obj)
	}
	if r := C.ts_write_string(f.id, co, cn, cv); r != 0 {
		return fmt.Errorf("h5: %s: cannot write attribute %s/%s (code %d)", f.path, obj, name, int(r))
	}
	return nil
}

// WriteFloat32 stores data as a float32 dataset of the given shape at path,
// creating the groups on the way.
func (f *File) WriteFloat32(path string, shape []int, data []float32) error {
	return f.write(path, shape, data, false)
}

// WriteInt64 stores data, whole numbers, as an int64 dataset (as Keras
// stores a Normalization layer's count); a shape of [] is a scalar.
func (f *File) WriteInt64(path string, shape []int, data []float32) error {
	return f.write(path, shape, data, true)
}

func (f *File) write(path string, shape []int, data []float32, asInt bool) error {
	n := 1
	dims := make([]C.longlong, max(len(shape), 1))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("h5: %s: dataset %q: negative dimension in %v", f.path, path, shape)
		}
		dims[i] = C.longlong(d)
		n *= d
	}
	if len(shape) > 8 || n != len(data) {
		return fmt.Errorf("h5: %s: dataset %q: shape %v does not fit %d values", f.path, path, shape, len(data))
	}
	var p *C.float
	if n > 0 {
		p = (*C.float)(unsafe.Pointer(&data[0]))
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	asInt64 := C.int(0)
	if asInt {
		asInt64 = 1
	}
	if r := C.ts_write_floats(f.id, cp, C.int(len(shape)), &dims[0], p, asInt64); r != 0 {
		return fmt.Errorf("h5: %s: cannot write dataset %q (code %d)", f.path, path, int(r))
	}
	return nil
}
