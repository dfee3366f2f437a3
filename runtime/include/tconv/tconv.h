// SPDX-License-Identifier: Apache-2.0
/* tconv's C API: compile a transposed-convolution layer (or a chain of them) from a JSON config
   once, execute it many times, from any thread.

   Every function returning tconv_status reports failures as a status plus a message kept per
   thread (tconv_last_error). No function crashes on a NULL argument: it is TCONV_INVALID_ARGUMENT.
   Tensors are float32: weights in PyTorch layout [IC, OC/groups, *kernel], bias [OC],
   activations in the layer's layout (channels_first [N, C, *spatial] by default). Layers of
   "kind" resize_conv and pixel_shuffle take Conv weights [CC, IC/groups, *kernel] and bias [CC],
   CC = OC (resize_conv) or OC*r^2 (pixel_shuffle); tconv_layer_param_elems counts them. */
#ifndef TCONV_H
#define TCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tconv_layer tconv_layer;
typedef struct tconv_model tconv_model;

typedef enum {
    TCONV_OK = 0,
    TCONV_INVALID_CONFIG,   /* the config broke a rule (the message names the key) */
    TCONV_INVALID_ARGUMENT, /* NULL or inconsistent argument, unreadable file */
    TCONV_UNSUPPORTED,      /* valid, but this build or CPU cannot serve it (e.g. max_isa) */
    TCONV_OUT_OF_MEMORY,
    TCONV_INTERNAL          /* a bug in tconv */
} tconv_status;

/* The largest number of dimensions of a tensor shape: N, C and up to 3 spatial dims. */
#define TCONV_MAX_DIMS 5

/* Optional settings for the *_ex functions; zero-initialise, then set what you need. */
typedef struct tconv_options {
    const char* layer_name; /* the layer to compile from a multi-layer config; NULL: the only one */
    const char* max_isa;    /* "avx512_amx", "avx512_bf16", "avx512", "avx2" or "scalar";
                               NULL: TCONV_MAX_ISA, else the best */
    int threads;            /* threads per execute call; 0: the default (see wait_policy) */
    /* How idle library threads wait: "passive" (sleep at once), "bounded" (spin ~50 us, then
       sleep; sleep at once while the cores are contended) or "spin"; NULL: TCONV_WAIT_POLICY,
       else "bounded". The default thread count is
       TCONV_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs of the process's affinity mask. */
    const char* wait_policy;
} tconv_options;

/* ---- layers ---- */

/* Compiles a single-layer config. bias is required iff the layer has "bias": true (the default),
   and must be NULL otherwise. The weights and bias are copied: the caller may free them. */
tconv_status tconv_layer_create(const char* config_json, const float* weights, const float* bias,
                                tconv_layer** out);
/* options may be NULL. */
tconv_status tconv_layer_create_ex(const char* config_json, const tconv_options* options,
                                   const float* weights, const float* bias, tconv_layer** out);
tconv_status tconv_layer_create_from_file(const char* config_path, const tconv_options* options,
                                          const float* weights, const float* bias,
                                          tconv_layer** out);

/* input: in_elems floats, output: out_elems floats (see tconv_layer_shape). Thread-safe. */
tconv_status tconv_layer_execute(const tconv_layer* layer, const float* input, float* output);
tconv_status tconv_layer_execute_threads(const tconv_layer* layer, const float* input,
                                         float* output, int threads);
/* Layers with "dtype": "bf16": input and output as bf16 bit patterns (in_elems and out_elems
   uint16_t values). On an f32 layer: TCONV_INVALID_ARGUMENT. (tconv_layer_execute on a bf16
   layer takes and returns floats, the input rounded to bf16 and the output bf16 values.) */
tconv_status tconv_layer_execute_bf16(const tconv_layer* layer, const uint16_t* input,
                                      uint16_t* output);

/* Puts the library's idle worker threads to sleep now, whatever the last call's wait policy
   (under "spin" they keep their cores busy between calls); the next call wakes them. */
void tconv_park_threads(void);

/* Element counts of the input and output tensors. */
tconv_status tconv_layer_shape(const tconv_layer* layer, int64_t* in_elems, int64_t* out_elems);
/* Element counts of the weights and bias (0 when the layer has no bias). */
tconv_status tconv_layer_param_elems(const tconv_layer* layer, int64_t* weight_elems,
                                     int64_t* bias_elems);
/* Full shapes: dims gets up to TCONV_MAX_DIMS entries, *ndims how many. */
tconv_status tconv_layer_input_dims(const tconv_layer* layer, int64_t dims[TCONV_MAX_DIMS],
                                    int* ndims);
tconv_status tconv_layer_output_dims(const tconv_layer* layer, int64_t dims[TCONV_MAX_DIMS],
                                     int* ndims);

/* What serves the layer: "jit_avx512", "jit_avx2" or "reference". NULL for a NULL layer. The
   string lives as long as the layer. */
const char* tconv_layer_implementation(const tconv_layer* layer);
/* The name of emitted kernel `index` (0-based), NULL past the last one (the reference emits
   none) or for a NULL layer. Lives as long as the layer. */
const char* tconv_layer_kernel_name(const tconv_layer* layer, size_t index);

/* ---- the compile report (as `tconv compile` prints it) ---- */
typedef struct tconv_report {
    const char* implementation;   /* as tconv_layer_implementation */
    size_t kernel_count;          /* names: tconv_layer_kernel_name(layer, 0 .. count-1) */
    size_t declined_count;        /* reasons: tconv_layer_declined(layer, 0 .. count-1) */
    size_t plan_line_count;       /* lines: tconv_layer_plan_line(layer, 0 .. count-1) */
    uint64_t code_bytes;          /* machine code of the layer's kernels */
    uint64_t packed_weight_bytes; /* weights and bias as the kernels read them */
    double compile_us;            /* plan + generate + pack */
    double pack_us;               /* of which packing the weights */
} tconv_report;
/* Fills *out; its strings live as long as the layer. */
tconv_status tconv_layer_report(const tconv_layer* layer, tconv_report* out);
/* Why faster implementation `index` declined, "jit_avx512: <reason>"; NULL past the last (or
   for a NULL layer). Lives as long as the layer. */
const char* tconv_layer_declined(const tconv_layer* layer, size_t index);
/* Line `index` of the plan (phases, taps, tiles, blocking); NULL past the last. */
const char* tconv_layer_plan_line(const tconv_layer* layer, size_t index);
/* ---- end compile report ---- */

/* NULL is a no-op. */
void tconv_layer_destroy(tconv_layer* layer);

/* ---- reshape: dynamic shapes ---- */

/* Re-shapes a compiled layer to a new batch and input size: input_size holds ndims spatial
   sizes (ndims = the layer's rank, 1 to 3), as XNNPACK's reshape step. The packed weights are
   kept (never re-packed), kernels come from the process-wide cache; tconv_layer_shape,
   tconv_layer_input_dims/output_dims and the kernel names then describe the new shape (kernel
   name strings from before the call are invalidated). A bad shape is TCONV_INVALID_ARGUMENT
   (TCONV_OUT_OF_MEMORY over the size limits, TCONV_UNSUPPORTED when the weights would need
   another packing), with tconv_last_error saying why; the layer is then left as it was.
   Must not run while another thread executes or reshapes the same layer. A layer viewed
   through tconv_model_layer cannot be reshaped (it is const). */
tconv_status tconv_layer_reshape(tconv_layer* layer, int64_t batch, const int64_t* input_size,
                                 int ndims);

/* ---- models: a config with "chain": true, each layer feeding the next ---- */

/* weights and biases hold one pointer per layer (count = the config's layer count);
   biases[i] is NULL for a layer without bias, and biases itself may be NULL when no layer has
   one. options may be NULL (its layer_name must be NULL). */
tconv_status tconv_model_create(const char* config_json, const tconv_options* options,
                                size_t count, const float* const* weights,
                                const float* const* biases, tconv_model** out);
tconv_status tconv_model_create_from_file(const char* config_path, const tconv_options* options,
                                          size_t count, const float* const* weights,
                                          const float* const* biases, tconv_model** out);
tconv_status tconv_model_execute(const tconv_model* model, const float* input, float* output);
tconv_status tconv_model_shape(const tconv_model* model, int64_t* in_elems, int64_t* out_elems);
/* The number of layers and a non-owning view of one (valid while the model lives). */
tconv_status tconv_model_layer_count(const tconv_model* model, size_t* count);
tconv_status tconv_model_layer(const tconv_model* model, size_t index, const tconv_layer** layer);
/* NULL is a no-op. */
void tconv_model_destroy(tconv_model* model);

/* ---- memory: the kernel cache and per-thread scratch (see tconv.hpp) ---- */

/* Compiled kernels are shared through a process-wide cache: those some live layer uses are never
   evicted; unused ones are kept up to the capacity (bytes of code, whole 4 KiB pages per
   kernel; 32 MiB by default), least recently used evicted first. */
typedef struct tconv_cache_statistics {
    uint64_t entries;        /* kernels held */
    uint64_t code_bytes;     /* their code */
    uint64_t capacity_bytes; /* the bound on code_bytes, kernels in use aside */
    uint64_t hits;           /* kernel requests served from the cache */
    uint64_t misses;         /* kernel requests that generated code */
    uint64_t evictions;      /* unused kernels dropped (capacity or clear) */
    uint64_t kernels_in_use; /* held by live layers: never evicted */
    uint64_t scratch_bytes;  /* per-thread execute scratch held by all threads */
} tconv_cache_statistics;
tconv_status tconv_cache_stats(tconv_cache_statistics* out);
/* Unused kernels over the new capacity are evicted at once; 0 keeps no unused kernel. */
tconv_status tconv_cache_set_capacity(uint64_t bytes);
/* Drops every unused kernel, and the calling thread's scratch beyond what live layers need
   (other threads release theirs at their next call). */
tconv_status tconv_cache_clear(void);
/* ---- end memory ---- */

/* ---- errors and version ---- */

/* The message of the last failure on the calling thread; "" if none yet. Never NULL. The
   pointer is valid until the next failing tconv call on this thread. */
const char* tconv_last_error(void);
/* A constant name for a status: "TCONV_OK", "TCONV_INVALID_CONFIG", ... */
const char* tconv_status_string(tconv_status status);
/* The library version, e.g. "0.1.0". */
const char* tconv_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TCONV_H */
