// Package h5 reads and writes Keras weight files through libhdf5. It is one
// of the two packages that use cgo and handles only what Keras weight files
// hold: string-array attributes (such as layer_names and weight_names) and
// numeric datasets.
//
// Everything read must lie in the file itself: paths through soft, external
// or user-defined links, datasets stored in external raw-data files and
// virtual datasets are refused, so that a crafted weight file cannot pull
// another local file into a model. libhdf5's dynamic filter plugins are
// disabled, so that a file naming an unknown filter cannot make libhdf5
// load a shared library from HDF5_PLUGIN_PATH; Keras weight files use no
// filters, and the built-in ones (deflate, shuffle, fletcher32) still work.
package h5

/*
#cgo pkg-config: hdf5
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>


static hid_t ts_open(const char *path) { return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }
static int ts_accessible(const char *path) { return H5Fis_hdf5(path) > 0; }

// ts_lapl and ts_dapl refuse to traverse external links (a second guard
// behind ts_hard_path).
static hid_t ts_lapl = -1, ts_dapl = -1;

static herr_t ts_refuse_elink(const char *parent_file, const char *parent_group, const char *child_file,
	const char *child_object, unsigned *acc_flags, hid_t fapl, void *data) {
	return -1;
}

// ts_init prepares the library and returns 0, or -1 when it cannot start
// or dynamic plugin loading cannot be turned off. It runs before every
// open, so that nothing else in the process can turn plugin loading back
// on unnoticed.
static int ts_init(void) {
	if (H5open() < 0) return -1;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	unsigned int state = 1;
	if (H5PLset_loading_state(0) < 0 || H5PLget_loading_state(&state) < 0 || state != 0) return -1;
	if (ts_lapl < 0) {
		ts_lapl = H5Pcreate(H5P_LINK_ACCESS);
		H5Pset_elink_cb(ts_lapl, ts_refuse_elink, NULL);
		H5Pset_nlinks(ts_lapl, 1);
		ts_dapl = H5Pcreate(H5P_DATASET_ACCESS);
		H5Pset_elink_cb(ts_dapl, ts_refuse_elink, NULL);
		H5Pset_nlinks(ts_dapl, 1);
	}
	return 0;
}

// ts_plugin_state returns libhdf5's plugin loading mask, or -1 on error.
static long long ts_plugin_state(void) {
	unsigned int state = 0;
	if (H5PLget_loading_state(&state) < 0) return -1;
	return (long long)state;
}

// ts_hard_path is 1 when every link along path is a hard link in the file,
// 0 when one is missing, -1 when one is soft, external or user-defined.
// Each link is inspected before anything follows it.
static int ts_hard_path(hid_t f, const char *path) {
	size_t n = strlen(path);
	char *p = (char *)malloc(n + 1);
	if (p == NULL) return 0;
	int rc = 1;
	for (size_t i = 1; i <= n && rc == 1; i++) {
		if (i < n && path[i] != '/') continue;
		if (path[i - 1] == '/') continue;
		memcpy(p, path, i);
		p[i] = 0;
		if (H5Lexists(f, p, ts_lapl) <= 0) { rc = 0; break; }
		H5L_info_t info;
		if (H5Lget_info(f, p, &info, ts_lapl) < 0) { rc = 0; break; }
		if (info.type != H5L_TYPE_HARD) rc = -1;
	}
	free(p);
	return rc;
}

static int ts_exists(hid_t f, const char *path) {
	if (ts_hard_path(f, path) != 1) return 0;
	return H5Oexists_by_name(f, path, ts_lapl) > 0;
}

static int ts_attr_exists(hid_t f, const char *obj, const char *name) {
	if (strcmp(obj, "/") != 0 && ts_hard_path(f, obj) != 1) return 0;
	return H5Aexists_by_name(f, obj, name, ts_lapl) > 0;
}

// ts_attr_strings reads a 1-D (or scalar) string attribute. For fixed-length
// strings it returns their size in *width and the bytes in a buffer the
// caller frees; for variable-length strings *width is 0 and the result is a
// malloc'ed array of malloc'ed strings (freed by ts_free_vlen). An attribute
// of more than max_count strings or max_bytes bytes is refused (*err 4)
// before anything is allocated, with *count and *width set for the message.
static void *ts_attr_strings(hid_t f, const char *obj, const char *name, long long max_count, long long max_bytes,
	long long *count, long long *width, int *err) {
	*err = 0;
	if (strcmp(obj, "/") != 0 && ts_hard_path(f, obj) != 1) { *err = 6; return NULL; }
	hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, ts_lapl);
	if (a < 0) { *err = 1; return NULL; }
	hid_t t = H5Aget_type(a);
	hid_t s = H5Aget_space(a);
	void *out = NULL;
	if (t < 0 || s < 0 || H5Tget_class(t) != H5T_STRING) { *err = 2; goto done; }
	int nd = H5Sget_simple_extent_ndims(s);
	hsize_t dims[1] = {1};
	if (nd < 0 || nd > 1) { *err = 3; goto done; }
	if (nd == 1 && H5Sget_simple_extent_dims(s, dims, NULL) < 0) { *err = 3; goto done; }
	*count = dims[0] > (hsize_t)max_count ? max_count + 1 : (long long)dims[0];
	*width = 0;
	if (dims[0] > (hsize_t)max_count) { *err = 4; goto done; }
	if (H5Tis_variable_str(t) > 0) {
		hid_t mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, H5T_VARIABLE);
		H5Tset_cset(mt, H5Tget_cset(t)); // libhdf5 converts no character set to another (h5py writes str as UTF-8)
		char **strs = (char **)calloc(dims[0] ? dims[0] : 1, sizeof(char *));
		if (H5Aread(a, mt, strs) < 0) { free(strs); *err = 5; H5Tclose(mt); goto done; }
		H5Tclose(mt);
		out = strs;
	} else {
		size_t w = H5Tget_size(t);
		if (w == 0) { *err = 2; goto done; }
		*width = w > (size_t)max_bytes ? max_bytes + 1 : (long long)w;
		if (w > (size_t)max_bytes || (dims[0] > 0 && w > (size_t)max_bytes / dims[0])) { *err = 4; goto done; }
		char *buf = (char *)calloc(dims[0] ? dims[0] : 1, w);
		hid_t mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, w);
		H5Tset_strpad(mt, H5T_STR_NULLPAD);
		H5Tset_cset(mt, H5Tget_cset(t));
		if (H5Aread(a, mt, buf) < 0) { free(buf); *err = 5; H5Tclose(mt); goto done; }
		H5Tclose(mt);
		out = buf;
	}
done:
	if (s >= 0) H5Sclose(s);
	if (t >= 0) H5Tclose(t);
	H5Aclose(a);
	return out;
}

static void ts_free_vlen(char **strs, long long n) {
	for (long long i = 0; i < n; i++) H5free_memory(strs[i]);
	free(strs);
}

static char *ts_str_at(char **strs, long long i) { return strs[i]; }

// ts_open_dataset opens the dataset at path if it is safe to read: reached
// through hard links only, its data stored in this file and not virtual.
// On failure it returns a negative hid and sets *why: 1 missing, 2 a link
// leaves the file or is soft, 3 external raw data, 4 virtual.
static hid_t ts_open_dataset(hid_t f, const char *path, int *why) {
	*why = 0;
	int h = ts_hard_path(f, path);
	if (h == 0) { *why = 1; return -1; }
	if (h < 0) { *why = 2; return -1; }
	hid_t d = H5Dopen2(f, path, ts_dapl);
	if (d < 0) { *why = 1; return -1; }
	hid_t p = H5Dget_create_plist(d);
	if (p < 0) { H5Dclose(d); *why = 1; return -1; }
	int ext = H5Pget_external_count(p);
	H5D_layout_t layout = H5Pget_layout(p);
	H5Pclose(p);
	if (ext != 0) { H5Dclose(d); *why = 3; return -1; }
	if (layout == H5D_VIRTUAL) { H5Dclose(d); *why = 4; return -1; }
	return d;
}

// ts_dataset_shape returns the rank (or -1 with *why set, -2 for a rank
// over 8) and fills dims (up to 8).
static int ts_dataset_shape(hid_t f, const char *path, long long *dims, int *isfloat, int *why) {
	hid_t d = ts_open_dataset(f, path, why);
	if (d < 0) return -1;
	hid_t s = H5Dget_space(d);
	hid_t t = H5Dget_type(d);
	int nd = H5Sget_simple_extent_ndims(s);
	*isfloat = H5Tget_class(t) == H5T_FLOAT || H5Tget_class(t) == H5T_INTEGER;
	if (nd >= 0 && nd <= 8) {
		hsize_t hd[8];
		H5Sget_simple_extent_dims(s, hd, NULL);
		for (int i = 0; i < nd; i++) dims[i] = (long long)hd[i];
	} else {
		nd = -2;
	}
	H5Tclose(t);
	H5Sclose(s);
	H5Dclose(d);
	return nd;
}

static int ts_dataset_read(hid_t f, const char *path, float *out) {
	int why;
	hid_t d = ts_open_dataset(f, path, &why);
	if (d < 0) return -1;
	herr_t r = H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
	H5Dclose(d);
	return r < 0 ? -2 : 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// libhdf5 (serial build) is not thread-safe: every call holds this lock.
var mu sync.Mutex

func init() {
	mu.Lock()
	defer mu.Unlock()
	C.ts_init()
}

// errPlugins is the error when libhdf5 cannot start with its plugin
// loading turned off: files are then not opened at all.
var errPlugins = errors.New("cannot start libhdf5 with its dynamic filter plugins disabled")

// pluginLoadingState is libhdf5's plugin loading mask (0: no plugin is ever
// loaded).
func pluginLoadingState() (uint, error) {
	mu.Lock()
	defer mu.Unlock()
	v := C.ts_plugin_state()
	if v < 0 {
		return 0, errors.New("h5: H5PLget_loading_state failed")
	}
	return uint(v), nil
}

// Limits on one string attribute, so that a corrupt or crafted header
// cannot make libhdf5 or Go allocate without bound, nor overflow a size on
// its way to C; Keras' own attributes are far smaller (it splits a long
// list across several attributes).
const (
	maxAttrStrings = 1 << 20
	maxAttrBytes   = 64 << 20
)

// attrBytes checks an attribute of count strings of width bytes each
// (width 0 for variable-length strings) against the limits and returns the
// size of its data in bytes.
func attrBytes(count, width int64) (int, error) {
	switch {
	case count < 0 || width < 0:
		return 0, fmt.Errorf("invalid size: %d strings of %d bytes", count, width)
	case count > maxAttrStrings:
		return 0, fmt.Errorf("%d strings or more, over the limit of %d", count, maxAttrStrings)
	case width > maxAttrBytes || (count > 0 && width > maxAttrBytes/count):
		return 0, fmt.Errorf("%d strings of %d bytes or more, over the limit of %d bytes", count, width, maxAttrBytes)
	}
	return int(count * width), nil
}

// maxElements bounds one dataset, so a corrupt header cannot trigger a huge allocation.
const maxElements = 1 << 30

// File is an open HDF5 file.
type File struct {
	id   C.hid_t
	path string
}

// Open opens an HDF5 file for reading. A missing, truncated or non-HDF5
// file gives an error naming it.
func Open(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("h5: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("h5: %s is a directory", path)
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	if C.ts_init() != 0 {
		return nil, fmt.Errorf("h5: %s: %w", path, errPlugins)
	}
	if C.ts_accessible(cp) == 0 {
		return nil, fmt.Errorf("h5: %s: not an HDF5 file, or truncated or corrupt (%d bytes)", path, st.Size())
	}
	id := C.ts_open(cp)
	if id < 0 {
		return nil, fmt.Errorf("h5: %s: cannot open: truncated or corrupt HDF5 file (%d bytes)", path, st.Size())
	}
	return &File{id: id, path: path}, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Close closes the file.
func (f *File) Close() error {
	mu.Lock()
	defer mu.Unlock()
	if f.id < 0 {
		return nil
	}
	r := C.H5Fclose(f.id)
	f.id = -1
	if r < 0 {
		return fmt.Errorf("h5: %s: close failed", f.path)
	}
	return nil
}

// Exists reports whether an object (group or dataset) exists at path.
func (f *File) Exists(path string) bool {
	if path == "" || path == "/" {
		return true
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	// H5Lexists needs every intermediate link to exist: check each prefix.
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := range parts {
		p := C.CString(strings.Join(parts[:i+1], "/"))
		ok := C.ts_exists(f.id, p) != 0
		C.free(unsafe.Pointer(p))
		if !ok {
			return false
		}
	}
	return true
}

// ErrNoAttr is returned when an attribute is absent.
var ErrNoAttr = errors.New("attribute not found")

// Strings reads a string-array attribute of the object at obj ("/" for the
// root). Keras splits long lists into name0, name1, ...; those are joined.
func (f *File) Strings(obj, name string) ([]string, error) {
	if obj == "" {
		obj = "/"
	}
	out, err := f.strings(obj, name)
	if !errors.Is(err, ErrNoAttr) {
		return out, err
	}
	for k := 0; ; k++ {
		part, err := f.strings(obj, fmt.Sprintf("%s%d", name, k))
		if errors.Is(err, ErrNoAttr) {
			if k == 0 {
				return nil, fmt.Errorf("h5: %s: %s has no attribute %q: %w", f.path, obj, name, ErrNoAttr)
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
}

func (f *File) strings(obj, name string) ([]string, error) {
	co, cn := C.CString(obj), C.CString(name)
	defer C.free(unsafe.Pointer(co))
	defer C.free(unsafe.Pointer(cn))
	mu.Lock()
	defer mu.Unlock()
	if C.ts_exists(f.id, co) == 0 && obj != "/" {
		return nil, fmt.Errorf("h5: %s: no object %q: %w", f.path, obj, ErrNoAttr)
	}
	if C.ts_attr_exists(f.id, co, cn) == 0 {
		return nil, ErrNoAttr
	}
	var count, width C.longlong
	var cerr C.int
	p := C.ts_attr_strings(f.id, co, cn, maxAttrStrings, maxAttrBytes, &count, &width, &cerr)
	if cerr == 6 {
		return nil, fmt.Errorf("h5: %s: %s is reached through a soft or external link: refused", f.path, obj)
	}
	size, sizeErr := attrBytes(int64(count), int64(width))
	if cerr == 4 || sizeErr != nil {
		if p != nil {
			freeStrings(p, count, width)
		}
		if sizeErr == nil {
			sizeErr = errors.New("too large")
		}
		return nil, fmt.Errorf("h5: %s: attribute %s/%s: %w", f.path, obj, name, sizeErr)
	}
	if cerr != 0 {
		return nil, fmt.Errorf("h5: %s: attribute %s/%s: unreadable string array (code %d)", f.path, obj, name, int(cerr))
	}
	n := int(count)
	out := make([]string, n)
	if width == 0 {
		defer freeStrings(p, count, width)
		strs := (**C.char)(p)
		total := 0
		for i := 0; i < n; i++ {
			s := C.ts_str_at(strs, C.longlong(i))
			if s == nil {
				continue
			}
			l := C.strlen(s)
			if uint64(l) > uint64(maxAttrBytes-total) {
				return nil, fmt.Errorf("h5: %s: attribute %s/%s: its strings exceed the limit of %d bytes", f.path, obj, name, maxAttrBytes)
			}
			total += int(l)
			out[i] = C.GoStringN(s, C.int(l))
		}
		return out, nil
	}
	// size is at most maxAttrBytes, so it fits a C int.
	buf := C.GoBytes(p, C.int(size))
	C.free(p)
	w := int(width)
	for i := 0; i < n; i++ {
		s := buf[i*w : (i+1)*w]
		if j := strings.IndexByte(string(s), 0); j >= 0 {
			s = s[:j]
		}
		out[i] = string(s)
	}
	return out, nil
}

// freeStrings releases what ts_attr_strings returned.
func freeStrings(p unsafe.Pointer, count, width C.longlong) {
	if width == 0 {
		C.ts_free_vlen((**C.char)(p), count)
		return
	}
	C.free(p)
}

// Shape returns the dimensions of the numeric dataset at path.
func (f *File) Shape(path string) ([]int, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	return f.shape(cp, path)
}

func (f *File) shape(cp *C.char, path string) ([]int, error) {
	var dims [8]C.longlong
	var isFloat, why C.int
	nd := C.ts_dataset_shape(f.id, cp, &dims[0], &isFloat, &why)
	if nd == -1 {
		switch why {
		case 2:
			return nil, fmt.Errorf("h5: %s: dataset %q is reached through a soft or external link: refused, weights must lie in the file", f.path, path)
		case 3:
			return nil, fmt.Errorf("h5: %s: dataset %q keeps its data in an external file: refused", f.path, path)
		case 4:
			return nil, fmt.Errorf("h5: %s: dataset %q is a virtual dataset: refused", f.path, path)
		}
		return nil, fmt.Errorf("h5: %s: no dataset %q", f.path, path)
	}
	if nd < 0 {
		return nil, fmt.Errorf("h5: %s: dataset %q has an unsupported rank", f.path, path)
	}
	if isFloat == 0 {
		return nil, fmt.Errorf("h5: %s: dataset %q is not numeric", f.path, path)
	}
	shape := make([]int, nd)
	n := 1
	for i := range shape {
		shape[i] = int(dims[i])
		if shape[i] < 0 || (shape[i] > 0 && n > maxElements/shape[i]) {
			return nil, fmt.Errorf("h5: %s: dataset %q is implausibly large", f.path, path)
		}
		n *= shape[i]
	}
	return shape, nil
}

// ReadFloat32 reads the float dataset at path into dst after checking that
// it holds exactly len(dst) values, so that nothing is allocated or read
// for a dataset larger than the caller expects.
func (f *File) ReadFloat32(path string, dst []float32) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	shape, err := f.shape(cp, path)
	if err != nil {
		return err
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n != len(dst) {
		return fmt.Errorf("h5: %s: dataset %q has shape %v (%d values), want %d values", f.path, path, shape, n, len(dst))
	}
	if n == 0 {
		return nil
	}
	if C.ts_dataset_read(f.id, cp, (*C.float)(unsafe.Pointer(&dst[0]))) != 0 {
		return fmt.Errorf("h5: %s: dataset %q: read failed (truncated or corrupt file)", f.path, path)
	}
	return nil
}

// Float32 reads the dataset at path as float32 (converting from other float
// widths and from integers, such as Keras' int64 Normalization count) and
// returns its shape and values.
func (f *File) Float32(path string) ([]int, []float32, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	mu.Lock()
	defer mu.Unlock()
	shape, err := f.shape(cp, path)
	if err != nil {
		return nil, nil, err
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	if n == 0 {
		return shape, data, nil
	}
	if C.ts_dataset_read(f.id, cp, (*C.float)(unsafe.Pointer(&data[0]))) != 0 {
		return nil, nil, fmt.Errorf("h5: %s: dataset %q: read failed (truncated or corrupt file)", f.path, path)
	}
	return shape, data, nil
}
