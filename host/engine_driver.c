/* Driver sketch for rtl/engine_axi.v (the t2c layer engine behind AXI4-Lite), written
 * against the register map generated from rtl/engine_regs.rdl (t2c_engine_regs.h).
 * Same sequence as t2c/sim/engine_driver.py, which sim/test_engine_axi.py runs in
 * simulation (docs/axi.md):
 *
 *   t2c_engine_check(base, &info);               ID, version, geometry of the build
 *   t2c_engine_load_layer(base, &images);        descriptor + every memory image
 *   t2c_engine_run(base, max_polls, &cycles);    start, poll DONE
 *   t2c_engine_read_output(base, out, n, lanes); the output memory
 *
 * `base` is where the AXI4-Lite slave is mapped (a bare-metal address, or mmap() of
 * /dev/mem or a UIO device on Linux).  Images are the words t2c export --engine wrote
 * (one .hex line = one word), split into 32-bit lanes, lane 0 = bits [31:0] first.
 * Compiled in tests/test_host_driver.py with gcc -Wall -Wextra -Werror -c.
 */
#include <stddef.h>
#include <stdint.h>

#include "t2c_engine_regs.h"

#define T2C_ENGINE_ID_VALUE    T2C_ENGINE__ID__ID_reset
#define T2C_ENGINE_MAJOR_VALUE T2C_ENGINE__VERSION__MAJOR_reset

/* One memory image: n_words words of lanes_per_word 32-bit lanes, lane 0 first. */
typedef struct {
    const uint32_t *lanes;
    uint32_t n_words;          /* 0: the layer does not use this memory */
    uint32_t lanes_per_word;   /* ceil(word bits / 32) */
} t2c_image_t;

/* A layer's images (names as in t2c.export.engine.IMAGE_NAMES). */
typedef struct {
    const uint32_t *desc;      /* the descriptor's 32 words */
    t2c_image_t tiles, input, weight, bias, m, s, residual, residual_m;
} t2c_layer_images_t;

typedef struct {
    uint32_t rows, cols, abits, wbits, accw, mult_bits, obits, lane_shift;
    uint32_t act_words, w_words, ct_words, res_words, out_words;
} t2c_engine_info_t;

/* A window as a lane array (offsetof: the generated struct is packed). */
#define T2C_WINDOW(base, name) \
    ((volatile uint32_t *)((volatile uint8_t *)(base) + offsetof(t2c_engine_t, name)))

#define T2C_FIELD(value, reg, field) \
    (((value) & T2C_ENGINE__##reg##__##field##_bm) >> T2C_ENGINE__##reg##__##field##_bp)

/* 0 when base is a t2c engine_axi of this register map's major version, else -1. */
int t2c_engine_check(void *base, t2c_engine_info_t *info)
{
    volatile t2c_engine_t *e = (volatile t2c_engine_t *)base;
    uint32_t g = e->GEOMETRY, g2 = e->GEOMETRY2;

    if (e->ID != T2C_ENGINE_ID_VALUE || T2C_FIELD(e->VERSION, VERSION, MAJOR) != T2C_ENGINE_MAJOR_VALUE)
        return -1;
    info->rows = T2C_FIELD(g, GEOMETRY, ROWS);
    info->cols = T2C_FIELD(g, GEOMETRY, COLS);
    info->abits = T2C_FIELD(g, GEOMETRY, ABITS);
    info->wbits = T2C_FIELD(g, GEOMETRY, WBITS);
    info->accw = T2C_FIELD(g2, GEOMETRY2, ACCW);
    info->mult_bits = T2C_FIELD(g2, GEOMETRY2, MULT_BITS);
    info->obits = T2C_FIELD(g2, GEOMETRY2, OBITS);
    info->lane_shift = T2C_FIELD(g2, GEOMETRY2, LANE_SHIFT);
    info->act_words = e->ACT_WORDS;
    info->w_words = e->W_WORDS;
    info->ct_words = e->CT_WORDS;
    info->res_words = e->RES_WORDS;
    info->out_words = e->OUT_WORDS;
    return 0;
}

/* Write one image into its window: each word's lanes highest first; the write of lane 0
 * commits the word (the engine's staging register). */
static void t2c_engine_write_image(volatile uint32_t *window, const t2c_image_t *img, uint32_t lane_shift)
{
    for (uint32_t w = 0; w < img->n_words; w++) {
        const uint32_t *word = img->lanes + (size_t)w * img->lanes_per_word;
        volatile uint32_t *dst = window + ((size_t)w << lane_shift);
        for (uint32_t j = img->lanes_per_word; j-- > 0;)
            dst[j] = word[j];
    }
}

/* Load a layer (the engine must be idle: writes while busy are refused).  0, or -1 when
 * base is not an engine_axi. */
int t2c_engine_load_layer(void *base, const t2c_layer_images_t *l)
{
    volatile t2c_engine_t *e = (volatile t2c_engine_t *)base;
    t2c_engine_info_t info;

    if (t2c_engine_check(base, &info) != 0)
        return -1;
    for (uint32_t i = 0; i < 32; i++)
        e->DESC[i] = l->desc[i];
    t2c_engine_write_image(T2C_WINDOW(base, WIN_TILES), &l->tiles, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_INPUT), &l->input, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_WEIGHT), &l->weight, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_BIAS), &l->bias, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_M), &l->m, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_S), &l->s, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_RESIDUAL), &l->residual, info.lane_shift);
    t2c_engine_write_image(T2C_WINDOW(base, WIN_RESIDUAL_M), &l->residual_m, info.lane_shift);
    return 0;
}

/* Start the loaded layer and poll DONE.  0: done (*cycles = the engine's cycle count);
 * -1: ERR (descriptor word 0 is not the magic number); -2: not done after max_polls. */
int t2c_engine_run(void *base, uint32_t max_polls, uint32_t *cycles)
{
    volatile t2c_engine_t *e = (volatile t2c_engine_t *)base;

    e->CTRL = T2C_ENGINE__CTRL__START_bm;
    for (uint32_t i = 0; i < max_polls; i++) {
        uint32_t status = e->STATUS;
        if (T2C_FIELD(status, STATUS, DONE)) {
            if (T2C_FIELD(status, STATUS, ERR))
                return -1;
            if (cycles)
                *cycles = e->CYCLES;
            return 0;
        }
    }
    return -2;
}

/* Read n_words output words of lanes_per_word lanes (ceil(COLS * OBITS / 32)) into dst. */
void t2c_engine_read_output(void *base, uint32_t *dst, uint32_t n_words, uint32_t lanes_per_word)
{
    volatile uint32_t *out = T2C_WINDOW(base, WIN_OUTPUT);
    t2c_engine_info_t info;

    (void)t2c_engine_check(base, &info);
    for (uint32_t w = 0; w < n_words; w++)
        for (uint32_t j = 0; j < lanes_per_word; j++)
            dst[(size_t)w * lanes_per_word + j] = out[((size_t)w << info.lane_shift) + j];
}
