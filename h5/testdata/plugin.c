/* plugin stands in for an HDF5 filter plugin that a crafted weight file
 * could make libhdf5 load from HDF5_PLUGIN_PATH. Being loaded at all runs
 * its constructor, which writes the file $TS_PLUGIN_MARKER names: the h5
 * tests check that this never happens. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void loaded(void) {
	const char *marker = getenv("TS_PLUGIN_MARKER");
	if (marker == NULL) return;
	FILE *f = fopen(marker, "w");
	if (f != NULL) {
		fputs("loaded\n", f);
		fclose(f);
	}
}

int H5PLget_plugin_type(void) { return 0; /* H5PL_TYPE_FILTER */ }
const void *H5PLget_plugin_info(void) { return NULL; }
