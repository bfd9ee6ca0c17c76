/* hostile writes small Keras-like HDF5 files for the h5 tests: a plain one,
 * and ones whose weights come from outside the file (an external link, an
 * external raw-data file, a virtual dataset, a soft link) or whose dataset
 * is larger than its layer expects.
 * usage: hostile DIR SECRETFILE */
#include <stdio.h>
#include <string.h>
#include <hdf5.h>

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
	return 0;
}
