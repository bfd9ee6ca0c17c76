/* hostile writes small Keras-like HDF5 files for the h5 tests: a plain one,
 * and ones whose weights come from outside the file (an external link, an
 * external raw-data file, a virtual dataset, a soft link), whose dataset
 * is larger than its layer expects, whose data passes through a filter a
 * reader does not have (so that libhdf5 would look for a plugin), or whose
 * string attribute holds more names than a reader accepts.
 * usage: hostile DIR SECRETFILE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>

/* unknown_filter is registered only here, while writing: a reader knows no
 * filter of this id. It passes the data through unchanged. */
#define UNKNOWN_FILTER 32000
static size_t passthrough(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[], size_t nbytes,
	size_t *buf_size, void **buf) {
	return nbytes;
}
static const H5Z_class2_t unknown_filter = {
	H5Z_CLASS_T_VERS, UNKNOWN_FILTER, 1, 1, "ts-unknown", NULL, NULL, passthrough,
};

/* more names than the reader's limit on one string attribute */
#define MANY_NAMES ((1 << 20) + 1)

static void strattr(hid_t obj, const char *name, const char *v) {
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, strlen(v) + 1);
	hsize_t one = 1;
	hid_t s = H5Screate_simple(1, &one, NULL);
	hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, t, v);
	H5Aclose(a); H5Sclose(s); H5Tclose(t);
}

/* keras writes /layer_names = ["dense"], /dense weight_names = [w] */
static hid_t keras(const char *dir, const char *name, const char *wname) {
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	strattr(f, "layer_names", "dense");
	hid_t g = H5Gcreate2(f, "dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	strattr(g, "weight_names", wname);
	H5Gclose(g);
	return f;
}

static void dataset(hid_t f, const char *path, hsize_t n, hid_t dcpl) {
	hid_t s = H5Screate_simple(1, &n, NULL);
	hid_t d = H5Dcreate2(f, path, H5T_NATIVE_FLOAT, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	float v[64];
	for (int i = 0; i < 64; i++) v[i] = (float)i;
	if (dcpl == H5P_DEFAULT && n <= 64) H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d); H5Sclose(s);
}

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	const char *dir = argv[1], *secret = argv[2];
	hid_t f;

	f = keras(dir, "plain.h5", "dense/bias:0");
	H5Gclose(H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	dataset(f, "dense/dense/bias:0", 4, H5P_DEFAULT);
	H5Fclose(f);

	f = keras(dir, "big.h5", "dense/bias:0");
	H5Gclose(H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	dataset(f, "dense/dense/bias:0", 64, H5P_DEFAULT);
	H5Fclose(f);

	/* the other file an external link points at */
	f = H5Fcreate(secret, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t g = H5Gcreate2(f, "dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	dataset(f, "dense/bias:0", 4, H5P_DEFAULT);
	H5Fclose(f);

	f = keras(dir, "extlink.h5", "dense/bias:0");
	H5Lcreate_external(secret, "/dense", f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT);
	H5Fclose(f);

	f = keras(dir, "softlink.h5", "dense/bias:0");
	dataset(f, "real", 4, H5P_DEFAULT);
	g = H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	H5Lcreate_soft("/real", f, "dense/dense/bias:0", H5P_DEFAULT, H5P_DEFAULT);
	H5Fclose(f);

	f = keras(dir, "external.h5", "dense/bias:0");
	g = H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_external(dcpl, secret, 0, 16);
	dataset(f, "dense/dense/bias:0", 4, dcpl);
	H5Pclose(dcpl);
	H5Fclose(f);

	f = keras(dir, "virtual.h5", "dense/bias:0");
	g = H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	hsize_t four = 4;
	hid_t vs = H5Screate_simple(1, &four, NULL);
	hid_t ss = H5Screate_simple(1, &four, NULL);
	H5Pset_virtual(dcpl, vs, secret, "/dense/bias:0", ss);
	dataset(f, "dense/dense/bias:0", 4, dcpl);
	H5Sclose(vs); H5Sclose(ss); H5Pclose(dcpl);
	H5Fclose(f);

	if (H5Zregister(&unknown_filter) < 0) return 1;
	f = keras(dir, "filtered.h5", "dense/bias:0");
	g = H5Gcreate2(f, "dense/dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(dcpl, 1, &four);
	H5Pset_filter(dcpl, UNKNOWN_FILTER, H5Z_FLAG_MANDATORY, 0, NULL);
	hid_t fs = H5Screate_simple(1, &four, NULL);
	hid_t d = H5Dcreate2(f, "dense/dense/bias:0", H5T_NATIVE_FLOAT, fs, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	float v[4] = {0, 1, 2, 3};
	if (d < 0 || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) return 1;
	H5Dclose(d); H5Sclose(fs); H5Pclose(dcpl);
	H5Fclose(f);

	/* an attribute this large needs dense attribute storage */
	char path[4096];
	snprintf(path, sizeof path, "%s/manynames.h5", dir);
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
	H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
	f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	H5Pclose(fapl);
	strattr(f, "layer_names", "dense");
	hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
	H5Pset_attr_phase_change(gcpl, 0, 0);
	g = H5Gcreate2(f, "dense", H5P_DEFAULT, gcpl, H5P_DEFAULT);
	H5Pclose(gcpl);
	hid_t t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, 1);
	hsize_t many = MANY_NAMES;
	hid_t ms = H5Screate_simple(1, &many, NULL);
	hid_t a = H5Acreate2(g, "weight_names", t, ms, H5P_DEFAULT, H5P_DEFAULT);
	char *names = calloc(MANY_NAMES, 1);
	memset(names, 'w', MANY_NAMES);
	if (a < 0 || H5Awrite(a, t, names) < 0) return 1;
	free(names);
	H5Aclose(a); H5Sclose(ms); H5Tclose(t);
	H5Gclose(g);
	H5Fclose(f);
	return 0;
}
