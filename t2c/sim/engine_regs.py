"""Register map of rtl/engine_axi.v: generated from rtl/engine_regs.rdl by
tools/engine_regs.py; do not edit (sim/test_engine_axi.py checks it is current)."""

# register -> byte offset (arrays: element 0, then 4 bytes apart)
ID = 0x000
VERSION = 0x004
GEOMETRY = 0x008
GEOMETRY2 = 0x00C
CTRL = 0x010
STATUS = 0x014
CYCLES = 0x018
STEPS = 0x01C
ACT_WORDS = 0x020
W_WORDS = 0x024
CT_WORDS = 0x028
RES_WORDS = 0x02C
OUT_WORDS = 0x030
DESC = 0x100  # 32 words

# register -> {field: (lsb, width)}
FIELDS = {
    'ID': {'ID': (0, 32)},
    'VERSION': {'MINOR': (0, 16), 'MAJOR': (16, 16)},
    'GEOMETRY': {'ROWS': (0, 8), 'COLS': (8, 8), 'ABITS': (16, 8), 'WBITS': (24, 8)},
    'GEOMETRY2': {'ACCW': (0, 8), 'MULT_BITS': (8, 8), 'OBITS': (16, 8), 'LANE_SHIFT': (24, 8)},
    'CTRL': {'START': (0, 1)},
    'STATUS': {'BUSY': (0, 1), 'DONE': (1, 1), 'ERR': (2, 1)},
    'CYCLES': {'CYCLES': (0, 32)},
    'STEPS': {'STEPS': (0, 32)},
    'ACT_WORDS': {'WORDS': (0, 32)},
    'W_WORDS': {'WORDS': (0, 32)},
    'CT_WORDS': {'WORDS': (0, 32)},
    'RES_WORDS': {'WORDS': (0, 32)},
    'OUT_WORDS': {'WORDS': (0, 32)},
    'DESC': {'VALUE': (0, 32)},
}

# constant fields (reset values of fields hardware does not drive)
ID_ID = 0x74324158
VERSION_MINOR = 0x0
VERSION_MAJOR = 0x1

# window -> (base address, bytes)
WINDOWS = {
    'WIN_TILES': (0x01000000, 0x1000000),
    'WIN_INPUT': (0x02000000, 0x1000000),
    'WIN_WEIGHT': (0x03000000, 0x1000000),
    'WIN_BIAS': (0x04000000, 0x1000000),
    'WIN_M': (0x05000000, 0x1000000),
    'WIN_S': (0x06000000, 0x1000000),
    'WIN_RESIDUAL': (0x07000000, 0x1000000),
    'WIN_RESIDUAL_M': (0x08000000, 0x1000000),
    'WIN_OUTPUT': (0x09000000, 0x1000000),
}
