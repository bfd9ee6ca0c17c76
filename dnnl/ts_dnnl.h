// Small C helpers over the oneDNN C API, so that the Go side stays short and
// Go memory is only touched for the length of one call.
#ifndef TS_DNNL_H
#define TS_DNNL_H
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl.h>
#include <dnnl_debug.h>

#define TS_MAX_ARGS 12
#define TS_MAX_HANDLES 8

typedef struct {
	dnnl_primitive_t prim;
	int n;
	int arg[TS_MAX_ARGS];
	dnnl_memory_t mem[TS_MAX_ARGS];
} ts_step;

static inline dnnl_status_t ts_md(dnnl_memory_desc_t *md, int nd, int64_t d0, int64_t d1,
		int64_t d2, int64_t d3, int64_t d4, int tag, dnnl_data_type_t dt) {
	dnnl_dims_t dims = {d0, d1, d2, d3, d4};
	return dnnl_memory_desc_init_by_tag(md, nd, dims, dt, (dnnl_format_tag_t)tag);
}

static inline void ts_dims2(dnnl_dims_t d, int64_t a, int64_t b) {
	memset(d, 0, sizeof(dnnl_dims_t));
	d[0] = a;
	d[1] = b;
}

static inline ts_step *ts_step_new(const_dnnl_primitive_desc_t pd, dnnl_status_t *st) {
	ts_step *s = (ts_step *)calloc(1, sizeof(ts_step));
	*st = dnnl_primitive_create(&s->prim, pd);
	if (*st != dnnl_success) {
		free(s);
		return NULL;
	}
	return s;
}

static inline void ts_step_free(ts_step *s) {
	if (!s) return;
	dnnl_primitive_destroy(s->prim);
	free(s);
}

// ts_step_add binds argument kind arg to mem. Handles passed to ts_run are
// assigned to the memories in the order they were added.
static inline int ts_step_add(ts_step *s, int arg, dnnl_memory_t mem) {
	if (s->n >= TS_MAX_ARGS) return -1;
	s->arg[s->n] = arg;
	s->mem[s->n] = mem;
	s->n++;
	return 0;
}

static inline dnnl_status_t ts_run(ts_step *s, dnnl_stream_t stream, void *h0, void *h1, void *h2,
		void *h3, void *h4, void *h5, void *h6, void *h7) {
	void *h[TS_MAX_HANDLES] = {h0, h1, h2, h3, h4, h5, h6, h7};
	dnnl_exec_arg_t a[TS_MAX_ARGS];
	for (int i = 0; i < s->n; i++) {
		a[i].arg = s->arg[i];
		a[i].memory = s->mem[i];
		if (i < TS_MAX_HANDLES && h[i] != NULL) {
			dnnl_status_t st = dnnl_memory_set_data_handle(s->mem[i], h[i]);
			if (st != dnnl_success) return st;
		}
	}
	dnnl_status_t st = dnnl_primitive_execute(s->prim, stream, s->n, a);
	if (st != dnnl_success) return st;
	return dnnl_stream_wait(stream);
}

static inline const char *ts_impl(const_dnnl_primitive_desc_t pd) {
	const char *s = NULL;
	if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success) return "?";
	return s;
}

static inline dnnl_status_t ts_post_eltwise(dnnl_primitive_attr_t attr, dnnl_alg_kind_t alg, float alpha, float beta) {
	dnnl_post_ops_t po;
	dnnl_status_t st = dnnl_post_ops_create(&po);
	if (st != dnnl_success) return st;
	st = dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta);
	if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
	dnnl_post_ops_destroy(po);
	return st;
}
// ts_post_sum makes a reorder add to its destination instead of overwriting it.
static inline dnnl_status_t ts_post_sum(dnnl_primitive_attr_t attr) {
	dnnl_post_ops_t po;
	dnnl_status_t st = dnnl_post_ops_create(&po);
	if (st != dnnl_success) return st;
	st = dnnl_post_ops_append_sum(po, 1.0f);
	if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
	dnnl_post_ops_destroy(po);
	return st;
}
// oneDNN 2.x's JIT GEMM kernels (dnnl_sgemm and the primitives built on
// it) point the stack pointer into the heap while they run, so a signal
// handler run on one of their threads writes into the heap (oneDNN issue
// 4845). The engine's threads therefore run kernels with every signal
// blocked: the process's signals go to the other threads, and one aimed at
// the engine's thread waits until the call returns.

// ts_start_workers creates OpenMP's worker threads, which inherit the
// signal mask of the thread that starts them, with every signal blocked.
// Call it on the engine's thread before any kernel runs.
static inline void ts_start_workers(void) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	#pragma omp parallel
	{
		__asm__ volatile("" ::: "memory");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

// ts_sgemm is dnnl_sgemm with every signal blocked on the calling thread.
static inline dnnl_status_t ts_sgemm(char ta, char tb, dnnl_dim_t m, dnnl_dim_t n, dnnl_dim_t k, float alpha,
		const float *a, dnnl_dim_t lda, const float *b, dnnl_dim_t ldb, float beta, float *c, dnnl_dim_t ldc) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return st;
}

static inline void *ts_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
#endif
