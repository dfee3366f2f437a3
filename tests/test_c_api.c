// SPDX-License-Identifier: Apache-2.0
/* The C API from plain C11: results computed by hand, every NULL argument, bad configs, missing
   bias, per-thread error messages. Exits non-zero on the first failed check. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tconv/tconv.h"

static int g_failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: \"%s\"\n", __FILE__, \
                    __LINE__, #cond, tconv_last_error());                            \
            ++g_failures;                                                            \
        }                                                                            \
    } while (0)

/* A failing call: the status, and a message holding `part`. */
#define CHECK_FAILS(call, status, part)                                                   \
    do {                                                                                  \
        tconv_status s_ = (call);                                                         \
        if (s_ != (status) || !strstr(tconv_last_error(), (part))) {                      \
            fprintf(stderr, "%s:%d: %s returned %s, want %s with a message holding "      \
                    "\"%s\"; message: \"%s\"\n", __FILE__, __LINE__, #call,                \
                    tconv_status_string(s_), tconv_status_string(status), (part),         \
                    tconv_last_error());                                                  \
            ++g_failures;                                                                 \
        }                                                                                 \
    } while (0)

static int near(float got, float want) { return fabsf(got - want) <= 1e-5f * (1 + fabsf(want)); }

/* The textbook example: 2x2 input, 3x3 kernel 1..9, stride 2, padding 1. Scattering each input
   times the kernel at stride 2 into a 5x5 grid and cropping one cell per side gives
   [[5, 14, 10], [14, 36, 24], [15, 34, 20]]. */
static const char* kTextbook =
    "{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2], \"kernel_size\": 3,"
    " \"stride\": 2, \"padding\": 1, \"bias\": false}";

static void test_textbook(void) {
    const float x[4] = {1, 2, 3, 4};
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want[9] = {5, 14, 10, 14, 36, 24, 15, 34, 20};
    tconv_layer* layer = NULL;
    CHECK(tconv_layer_create(kTextbook, w, NULL, &layer) == TCONV_OK);
    CHECK(layer != NULL);
    if (!layer) return;

    int64_t in_elems = 0, out_elems = 0, w_elems = -1, b_elems = -1;
    CHECK(tconv_layer_shape(layer, &in_elems, &out_elems) == TCONV_OK);
    CHECK(in_elems == 4 && out_elems == 9);
    CHECK(tconv_layer_param_elems(layer, &w_elems, &b_elems) == TCONV_OK);
    CHECK(w_elems == 9 && b_elems == 0);
    int64_t dims[TCONV_MAX_DIMS];
    int ndims = 0;
    CHECK(tconv_layer_output_dims(layer, dims, &ndims) == TCONV_OK);
    CHECK(ndims == 4 && dims[0] == 1 && dims[1] == 1 && dims[2] == 3 && dims[3] == 3);
    CHECK(tconv_layer_input_dims(layer, dims, &ndims) == TCONV_OK);
    CHECK(ndims == 4 && dims[2] == 2 && dims[3] == 2);
    const char* impl = tconv_layer_implementation(layer);
    CHECK(impl != NULL && impl[0] != '\0');

    float y[9];
    for (int i = 0; i < 9; ++i) y[i] = NAN;
    CHECK(tconv_layer_execute(layer, x, y) == TCONV_OK);
    for (int i = 0; i < 9; ++i) CHECK(near(y[i], want[i]));
    for (int i = 0; i < 9; ++i) y[i] = NAN;
    CHECK(tconv_layer_execute_threads(layer, x, y, 1) == TCONV_OK);
    for (int i = 0; i < 9; ++i) CHECK(near(y[i], want[i]));
    CHECK_FAILS(tconv_layer_execute_threads(layer, x, y, 0), TCONV_INVALID_ARGUMENT, "thread");
    tconv_layer_destroy(layer);
}

/* The textbook layer in bf16: its values are small integers, exact in bf16. */
static uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(u >> 16); /* exact for these values: the low half is zero */
}

static void test_bf16(void) {
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want[9] = {5, 14, 10, 14, 36, 24, 15, 34, 20};
    tconv_layer* f32 = NULL;
    tconv_layer* layer = NULL;
    uint16_t xb[4], yb[9];
    for (int i = 0; i < 4; ++i) xb[i] = bf16_bits((float)(i + 1));
    /* bf16 entry point on an f32 layer: an error, not a crash. */
    CHECK(tconv_layer_create(kTextbook, w, NULL, &f32) == TCONV_OK);
    CHECK_FAILS(tconv_layer_execute_bf16(f32, xb, yb), TCONV_INVALID_ARGUMENT, "dtype");
    tconv_layer_destroy(f32);

    const char* config =
        "{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2], \"kernel_size\": 3,"
        " \"stride\": 2, \"padding\": 1, \"bias\": false, \"dtype\": \"bf16\"}";
    CHECK(tconv_layer_create(config, w, NULL, &layer) == TCONV_OK);
    if (!layer) return;
    for (int i = 0; i < 9; ++i) yb[i] = 0x7fc0;
    CHECK(tconv_layer_execute_bf16(layer, xb, yb) == TCONV_OK);
    for (int i = 0; i < 9; ++i) CHECK(yb[i] == bf16_bits(want[i]));
    CHECK_FAILS(tconv_layer_execute_bf16(layer, NULL, yb), TCONV_INVALID_ARGUMENT, "input");
    CHECK_FAILS(tconv_layer_execute_bf16(layer, xb, NULL), TCONV_INVALID_ARGUMENT, "output");
    CHECK_FAILS(tconv_layer_execute_bf16(NULL, xb, yb), TCONV_INVALID_ARGUMENT, "layer");
    /* floats on a bf16 layer: the input is rounded to bf16 (1 + 2^-8 is a tie: to even, 1). */
    const float x[4] = {1.00390625f, 2, 3, 4};
    float y[9];
    CHECK(tconv_layer_execute(layer, x, y) == TCONV_OK);
    for (int i = 0; i < 9; ++i) CHECK(y[i] == want[i]);
    tconv_layer_destroy(layer);
}

/* 1D, two output channels, bias and relu: y[oc][o] = relu(b[oc] + sum_i x[i] * w[oc][o - i]). */
static void test_bias_relu(void) {
    const char* config =
        "{\"in_channels\": 1, \"out_channels\": 2, \"input_size\": [3], \"kernel_size\": 2,"
        " \"activation\": \"relu\"}";
    const float x[3] = {1, -2, 3};
    const float w[4] = {1, 1, -1, 2}; /* [IC=1, OC=2, K=2] */
    const float b[2] = {0.5f, -1};
    /* oc 0: [1, -1, 1, 3] + 0.5 -> [1.5, 0, 1.5, 3.5]; oc 1: [-1, 4, -7, 6] - 1 -> [0, 3, 0, 5] */
    const float want[8] = {1.5f, 0, 1.5f, 3.5f, 0, 3, 0, 5};
    tconv_layer* layer = NULL;
    CHECK_FAILS(tconv_layer_create(config, w, NULL, &layer), TCONV_INVALID_ARGUMENT, "bias");
    CHECK(layer == NULL);
    CHECK(tconv_layer_create(config, w, b, &layer) == TCONV_OK);
    if (!layer) return;
    float y[8];
    CHECK(tconv_layer_execute(layer, x, y) == TCONV_OK);
    for (int i = 0; i < 8; ++i) CHECK(near(y[i], want[i]));
    tconv_layer_destroy(layer);

    /* A bias for a layer without one is refused too. */
    CHECK_FAILS(tconv_layer_create(kTextbook, w, b, &layer), TCONV_INVALID_ARGUMENT, "bias");
}

static void test_options(void) {
    const char* two_layers =
        "{\"layers\": ["
        " {\"name\": \"up\", \"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2],"
        "  \"kernel_size\": 3, \"stride\": 2, \"padding\": 1, \"bias\": false},"
        " {\"name\": \"other\", \"in_channels\": 2, \"out_channels\": 2, \"input_size\": [4],"
        "  \"kernel_size\": 2}]}";
    const float x[4] = {1, 2, 3, 4};
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    tconv_layer* layer = NULL;
    CHECK_FAILS(tconv_layer_create(two_layers, w, NULL, &layer), TCONV_INVALID_ARGUMENT, "up");

    tconv_options opt;
    memset(&opt, 0, sizeof opt);
    opt.layer_name = "nope";
    CHECK_FAILS(tconv_layer_create_ex(two_layers, &opt, w, NULL, &layer), TCONV_INVALID_ARGUMENT,
                "other");
    opt.layer_name = "up";
    opt.max_isa = "sse9";
    CHECK_FAILS(tconv_layer_create_ex(two_layers, &opt, w, NULL, &layer), TCONV_INVALID_ARGUMENT,
                "sse9");
    opt.max_isa = "scalar";
    opt.threads = 1;
    opt.wait_policy = "fast";
    CHECK_FAILS(tconv_layer_create_ex(two_layers, &opt, w, NULL, &layer), TCONV_INVALID_ARGUMENT,
                "wait_policy \"fast\" is not a wait policy: use bounded, spin or passive");
    opt.wait_policy = "passive";
    CHECK(tconv_layer_create_ex(two_layers, &opt, w, NULL, &layer) == TCONV_OK);
    if (!layer) return;
    CHECK(strcmp(tconv_layer_implementation(layer), "reference") == 0);
    CHECK(tconv_layer_kernel_name(layer, 0) == NULL); /* the reference emits no kernel */
    float y[9];
    CHECK(tconv_layer_execute(layer, x, y) == TCONV_OK);
    CHECK(near(y[4], 36) && near(y[8], 20));
    tconv_layer_destroy(layer);
}

static void test_invalid_configs(void) {
    const float w[9] = {0};
    tconv_layer* layer = (tconv_layer*)&g_failures; /* must be reset to NULL on failure */
    CHECK_FAILS(tconv_layer_create("{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2],"
                                   " \"kernel_size\": 3, \"strides\": 2}",
                                   w, NULL, &layer),
                TCONV_INVALID_CONFIG, "strides");
    CHECK(layer == NULL);
    CHECK_FAILS(tconv_layer_create("{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2],"
                                   " \"kernel_size\": 3, \"stride\": 0}",
                                   w, NULL, &layer),
                TCONV_INVALID_CONFIG, "stride");
    CHECK_FAILS(tconv_layer_create("{\"out_channels\": 1, \"input_size\": [2], \"kernel_size\": 3}",
                                   w, NULL, &layer),
                TCONV_INVALID_CONFIG, "in_channels");
    CHECK_FAILS(tconv_layer_create("{\"in_channels\": 1,", w, NULL, &layer), TCONV_INVALID_CONFIG,
                "<string>");
    CHECK_FAILS(tconv_layer_create_from_file("/nonexistent/tconv.json", NULL, w, NULL, &layer),
                TCONV_INVALID_ARGUMENT, "/nonexistent/tconv.json");
}

static void test_null_arguments(void) {
    const float x[4] = {1, 2, 3, 4};
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float y[9];
    int64_t a = 0, b = 0;
    int dims_n = 0;
    int64_t dims[TCONV_MAX_DIMS];
    tconv_layer* layer = NULL;

    CHECK_FAILS(tconv_layer_create(NULL, w, NULL, &layer), TCONV_INVALID_ARGUMENT, "config_json");
    CHECK_FAILS(tconv_layer_create(kTextbook, NULL, NULL, &layer), TCONV_INVALID_ARGUMENT,
                "weights");
    CHECK_FAILS(tconv_layer_create(kTextbook, w, NULL, NULL), TCONV_INVALID_ARGUMENT, "out");
    CHECK_FAILS(tconv_layer_create_from_file(NULL, NULL, w, NULL, &layer), TCONV_INVALID_ARGUMENT,
                "config_path");
    CHECK_FAILS(tconv_layer_execute(NULL, x, y), TCONV_INVALID_ARGUMENT, "layer");
    CHECK_FAILS(tconv_layer_shape(NULL, &a, &b), TCONV_INVALID_ARGUMENT, "layer");
    CHECK_FAILS(tconv_layer_param_elems(NULL, &a, &b), TCONV_INVALID_ARGUMENT, "layer");
    CHECK_FAILS(tconv_layer_input_dims(NULL, dims, &dims_n), TCONV_INVALID_ARGUMENT, "layer");
    CHECK(tconv_layer_implementation(NULL) == NULL);
    CHECK(tconv_layer_kernel_name(NULL, 0) == NULL);
    tconv_layer_destroy(NULL);
    tconv_model_destroy(NULL);

    CHECK(tconv_layer_create(kTextbook, w, NULL, &layer) == TCONV_OK);
    if (!layer) return;
    CHECK_FAILS(tconv_layer_execute(layer, NULL, y), TCONV_INVALID_ARGUMENT, "input");
    CHECK_FAILS(tconv_layer_execute(layer, x, NULL), TCONV_INVALID_ARGUMENT, "output");
    CHECK_FAILS(tconv_layer_execute_threads(layer, NULL, y, 1), TCONV_INVALID_ARGUMENT, "input");
    CHECK_FAILS(tconv_layer_shape(layer, NULL, &b), TCONV_INVALID_ARGUMENT, "in_elems");
    CHECK_FAILS(tconv_layer_shape(layer, &a, NULL), TCONV_INVALID_ARGUMENT, "out_elems");
    CHECK_FAILS(tconv_layer_param_elems(layer, NULL, &b), TCONV_INVALID_ARGUMENT, "weight_elems");
    CHECK_FAILS(tconv_layer_param_elems(layer, &a, NULL), TCONV_INVALID_ARGUMENT, "bias_elems");
    CHECK_FAILS(tconv_layer_output_dims(layer, NULL, &dims_n), TCONV_INVALID_ARGUMENT, "dims");
    CHECK_FAILS(tconv_layer_output_dims(layer, dims, NULL), TCONV_INVALID_ARGUMENT, "ndims");
    tconv_layer_destroy(layer);
}

/* A two-layer chain: 1x2x2 -> (textbook) 1x3x3 -> (k2, s1, bias) 2x4x4. The model must equal
   the two layers run one after the other. */
static void test_model(void) {
    const char* chain =
        "{\"name\": \"pair\", \"chain\": true, \"layers\": ["
        " {\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2, 2], \"kernel_size\": 3,"
        "  \"stride\": 2, \"padding\": 1, \"bias\": false},"
        " {\"in_channels\": 1, \"out_channels\": 2, \"input_size\": [3, 3], \"kernel_size\": 2}]}";
    const float x[4] = {1, 2, 3, 4};
    const float w0[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float w1[8] = {1, -1, 0.5f, 2, -2, 1, 0, 3};
    const float b1[2] = {0.25f, -0.5f};
    const float* weights[2] = {w0, w1};
    const float* biases[2] = {NULL, b1};
    tconv_model* model = NULL;

    CHECK_FAILS(tconv_model_create(chain, NULL, 2, weights, NULL, &model), TCONV_INVALID_ARGUMENT,
                "bias");
    CHECK_FAILS(tconv_model_create(chain, NULL, 1, weights, biases, &model),
                TCONV_INVALID_ARGUMENT, "1 weight tensors given for 2 layers");
    CHECK_FAILS(tconv_model_create(NULL, NULL, 2, weights, biases, &model), TCONV_INVALID_ARGUMENT,
                "config_json");
    CHECK_FAILS(tconv_model_create(chain, NULL, 2, NULL, biases, &model), TCONV_INVALID_ARGUMENT,
                "weights");
    CHECK_FAILS(tconv_model_create(kTextbook, NULL, 1, weights, NULL, NULL),
                TCONV_INVALID_ARGUMENT, "out");
    CHECK(tconv_model_create(chain, NULL, 2, weights, biases, &model) == TCONV_OK);
    if (!model) return;

    int64_t in_elems = 0, out_elems = 0;
    size_t count = 0;
    CHECK(tconv_model_shape(model, &in_elems, &out_elems) == TCONV_OK);
    CHECK(in_elems == 4 && out_elems == 32);
    CHECK(tconv_model_layer_count(model, &count) == TCONV_OK && count == 2);
    const tconv_layer* l0 = NULL;
    const tconv_layer* l1 = NULL;
    CHECK(tconv_model_layer(model, 0, &l0) == TCONV_OK && l0 != NULL);
    CHECK(tconv_model_layer(model, 1, &l1) == TCONV_OK && l1 != NULL);
    const tconv_layer* past_end = l0;
    CHECK_FAILS(tconv_model_layer(model, 2, &past_end), TCONV_INVALID_ARGUMENT, "index 2");
    CHECK(past_end == NULL);
    CHECK_FAILS(tconv_model_execute(model, NULL, NULL), TCONV_INVALID_ARGUMENT, "input");
    CHECK_FAILS(tconv_model_execute(NULL, x, NULL), TCONV_INVALID_ARGUMENT, "model");
    if (!l0 || !l1) {
        tconv_model_destroy(model);
        return;
    }

    float mid[9], want[32], got[32];
    CHECK(tconv_layer_execute(l0, x, mid) == TCONV_OK);
    CHECK(near(mid[4], 36)); /* the textbook centre */
    CHECK(tconv_layer_execute(l1, mid, want) == TCONV_OK);
    /* Output channel 0 at (0, 0) is b + mid[0] * w1[0][0][0] = 0.25 + 5 * 1. */
    CHECK(near(want[0], 5.25f));
    CHECK(tconv_model_execute(model, x, got) == TCONV_OK);
    for (int i = 0; i < 32; ++i) CHECK(near(got[i], want[i]));
    tconv_model_destroy(model);

    /* Several layers without "chain": true are not a model. */
    const char* not_chain =
        "{\"layers\": [{\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [2],"
        " \"kernel_size\": 2}, {\"in_channels\": 1, \"out_channels\": 1, \"input_size\": [3],"
        " \"kernel_size\": 2}]}";
    CHECK_FAILS(tconv_model_create(not_chain, NULL, 2, weights, NULL, &model),
                TCONV_INVALID_CONFIG, "chain");
    CHECK(model == NULL);
}

/* ---- reshape ---- */
/* A 1D layer (3 -> 2 channels, k4 s2 p1, bias) reshaped through many lengths, each result
   against a direct loop: y[oc][o] = b[oc] + sum over (ic, i, k: o = 2i - 1 + k) x[ic][i] w. */
static void test_reshape(void) {
    const char* json = "{\"in_channels\": 3, \"out_channels\": 2, \"input_size\": [5],"
                       " \"kernel_size\": 4, \"stride\": 2, \"padding\": 1}";
    float w[3 * 2 * 4], b[2] = {0.5f, -0.25f};
    for (int i = 0; i < 24; ++i) w[i] = (float)((i * 7) % 11) / 8.0f - 0.5f;
    tconv_layer* layer = NULL;
    CHECK(tconv_layer_create(json, w, b, &layer) == TCONV_OK);
    if (!layer) return;
    const int64_t lengths[] = {5, 1, 2, 17, 64, 65, 300, 5};
    for (size_t n = 0; n < sizeof lengths / sizeof lengths[0]; ++n) {
        const int64_t len = lengths[n], out = 2 * len;  /* (I-1)*2 - 2 + 3 + 1 */
        CHECK(tconv_layer_reshape(layer, 2, &len, 1) == TCONV_OK);
        int64_t in_elems = 0, out_elems = 0, dims[TCONV_MAX_DIMS];
        int ndims = 0;
        CHECK(tconv_layer_shape(layer, &in_elems, &out_elems) == TCONV_OK);
        CHECK(in_elems == 2 * 3 * len && out_elems == 2 * 2 * out);
        CHECK(tconv_layer_output_dims(layer, dims, &ndims) == TCONV_OK);
        CHECK(ndims == 3 && dims[0] == 2 && dims[1] == 2 && dims[2] == out);
        float* x = malloc(sizeof(float) * (size_t)in_elems);
        float* y = malloc(sizeof(float) * (size_t)out_elems);
        float* want = malloc(sizeof(float) * (size_t)out_elems);
        if (!x || !y || !want) abort();
        for (int64_t i = 0; i < in_elems; ++i) x[i] = (float)((i * 13) % 7) - 3.0f;
        for (int64_t img = 0; img < 2; ++img)
            for (int64_t oc = 0; oc < 2; ++oc)
                for (int64_t o = 0; o < out; ++o) {
                    float acc = b[oc];
                    for (int64_t ic = 0; ic < 3; ++ic)
                        for (int64_t i = 0; i < len; ++i) {
                            const int64_t k = o - (2 * i - 1);
                            if (k >= 0 && k < 4)
                                acc += x[(img * 3 + ic) * len + i] * w[(ic * 2 + oc) * 4 + k];
                        }
                    want[(img * 2 + oc) * out + o] = acc;
                }
        CHECK(tconv_layer_execute(layer, x, y) == TCONV_OK);
        for (int64_t i = 0; i < out_elems; ++i) CHECK(near(y[i], want[i]));
        free(x);
        free(y);
        free(want);
    }
    /* Bad shapes: clear errors, the layer as it was (length 5, batch 2). */
    const int64_t zero = 0, two[2] = {4, 4};
    CHECK_FAILS(tconv_layer_reshape(layer, 1, &zero, 1), TCONV_INVALID_ARGUMENT,
                "input_size[0]=0 must be >= 1");
    CHECK_FAILS(tconv_layer_reshape(layer, 0, two, 1), TCONV_INVALID_ARGUMENT, "batch=0");
    CHECK_FAILS(tconv_layer_reshape(layer, 1, two, 2), TCONV_INVALID_ARGUMENT, "rank 1");
    CHECK_FAILS(tconv_layer_reshape(layer, 1, two, 0), TCONV_INVALID_ARGUMENT, "ndims=0");
    CHECK_FAILS(tconv_layer_reshape(layer, 1, NULL, 1), TCONV_INVALID_ARGUMENT, "input_size");
    CHECK_FAILS(tconv_layer_reshape(NULL, 1, two, 1), TCONV_INVALID_ARGUMENT, "layer");
    int64_t in_elems = 0, out_elems = 0;
    CHECK(tconv_layer_shape(layer, &in_elems, &out_elems) == TCONV_OK);
    CHECK(in_elems == 2 * 3 * 5 && out_elems == 2 * 2 * 10);
    tconv_layer_destroy(layer);
}

static void* other_thread(void* arg) {
    (void)arg;
    /* Messages are per thread: this one has had no failure. */
    return (void*)(strcmp(tconv_last_error(), "") == 0 ? "ok" : NULL);
}

/* The compile report: what serves the layer, its kernels, why faster ones declined. */
static void test_report(void) {
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    tconv_layer* layer = NULL;
    tconv_report r;
    CHECK(tconv_layer_create(kTextbook, w, NULL, &layer) == TCONV_OK);
    if (!layer) return;
    memset(&r, 0, sizeof r);
    CHECK(tconv_layer_report(layer, &r) == TCONV_OK);
    CHECK(r.implementation != NULL &&
          strcmp(r.implementation, tconv_layer_implementation(layer)) == 0);
    CHECK(r.compile_us > 0);
    CHECK(tconv_layer_kernel_name(layer, r.kernel_count) == NULL);
    CHECK(tconv_layer_declined(layer, r.declined_count) == NULL);
    CHECK(tconv_layer_plan_line(layer, r.plan_line_count) == NULL);
    if (strncmp(r.implementation, "jit_", 4) == 0) {
        size_t i;
        CHECK(r.kernel_count >= 1 && r.code_bytes > 0 && r.packed_weight_bytes >= 9 * 4);
        CHECK(r.plan_line_count >= 1 && strlen(tconv_layer_plan_line(layer, 0)) > 0);
        for (i = 0; i < r.kernel_count; ++i)
            CHECK(strncmp(tconv_layer_kernel_name(layer, i), "tconv_f32_", 10) == 0);
    }
    tconv_layer_destroy(layer);

    /* Capped at scalar: the reference serves, and both JIT implementations say why not. */
    {
        tconv_options opt;
        memset(&opt, 0, sizeof opt);
        opt.max_isa = "scalar";
        CHECK(tconv_layer_create_ex(kTextbook, &opt, w, NULL, &layer) == TCONV_OK);
        if (!layer) return;
        CHECK(tconv_layer_report(layer, &r) == TCONV_OK);
        CHECK(strcmp(r.implementation, "reference") == 0);
        CHECK(r.kernel_count == 0 && r.code_bytes == 0);
        CHECK(r.declined_count == 2);
        CHECK(strstr(tconv_layer_declined(layer, 0), "jit_avx512: above the ISA cap") != NULL);
        CHECK(strstr(tconv_layer_declined(layer, 1), "jit_avx2: ") != NULL);
        tconv_layer_destroy(layer);
    }
    CHECK_FAILS(tconv_layer_report(NULL, &r), TCONV_INVALID_ARGUMENT, "layer");
    CHECK(tconv_layer_declined(NULL, 0) == NULL);
}

/* The kernel cache from C: statistics, capacity, clearing. */
static void test_cache(void) {
    const float w[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    tconv_cache_statistics s, t;
    tconv_layer* layer = NULL;
    CHECK(tconv_cache_set_capacity(0) == TCONV_OK);
    CHECK(tconv_cache_stats(&s) == TCONV_OK);
    CHECK(s.capacity_bytes == 0);
    CHECK(s.entries == s.kernels_in_use); /* capacity 0: only kernels in use stay */
    CHECK(tconv_layer_create(kTextbook, w, NULL, &layer) == TCONV_OK);
    CHECK(tconv_cache_stats(&t) == TCONV_OK);
    CHECK(t.hits + t.misses > s.hits + s.misses ||
          strcmp(tconv_layer_implementation(layer), "reference") == 0);
    tconv_layer_destroy(layer);
    CHECK(tconv_cache_stats(&t) == TCONV_OK);
    CHECK(t.entries == t.kernels_in_use);
    CHECK(t.kernels_in_use == s.kernels_in_use);
    CHECK(tconv_cache_set_capacity(32u << 20) == TCONV_OK);
    CHECK(tconv_cache_clear() == TCONV_OK);
    CHECK(tconv_cache_stats(&t) == TCONV_OK);
    CHECK(t.capacity_bytes == 32u << 20);
    CHECK_FAILS(tconv_cache_stats(NULL), TCONV_INVALID_ARGUMENT, "out");
}

int main(void) {
    CHECK(strcmp(tconv_last_error(), "") == 0);
    CHECK(strcmp(tconv_status_string(TCONV_INVALID_CONFIG), "TCONV_INVALID_CONFIG") == 0);
    CHECK(strlen(tconv_version()) >= 5);
    test_textbook();
    CHECK(strcmp(tconv_last_error(), "") != 0); /* the thread-count failure above */
    test_bias_relu();
    test_bf16();
    test_options();
    test_invalid_configs();
    test_null_arguments();
    test_model();
    test_report();
    test_cache();
    test_reshape();

    pthread_t t;
    void* result = NULL;
    CHECK(pthread_create(&t, NULL, other_thread, NULL) == 0);
    CHECK(pthread_join(t, &result) == 0);
    CHECK(result != NULL);

    if (g_failures) {
        fprintf(stderr, "test_c_api: %d check(s) failed\n", g_failures);
        return 1;
    }
    printf("test_c_api: all checks passed\n");
    return 0;
}
