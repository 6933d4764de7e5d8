// Streaming LUT layer (GELU, SiLU, sigmoid, ... of a t2c Lut op): y = T[x - x_qmin]
// (t2c.arith.lut_lookup, docs/arithmetic.md "Transformer ops"), one code per cycle.
//
// x_i is an input code (two's complement when the layer's input is signed); the
// table index is x - x_qmin modulo 2^IN_BITS (for signed int8, x_qmin = -128: the
// sign bit flipped), which rtl/lut.v (no interpolation) looks up.  x_qmin_i is the
// layer's x_qmin in IN_BITS bits (a descriptor value; stable while streaming).
//
// Latency 1 (valid_i to valid_o), no back-pressure; y_o holds the last result while
// valid_o is low.  INIT_FILE: absolute path, 2^IN_BITS OUT_BITS-bit hex words.
module lut_layer #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter         INIT_FILE  = ""
) (
  input  wire                clk_i,
  input  wire                rst_ni,
  input  wire [IN_BITS-1:0]  x_qmin_i,
  input  wire                valid_i,
  input  wire [IN_BITS-1:0]  x_i,
  output wire                valid_o,
  output wire [OUT_BITS-1:0] y_o
);

  reg [IN_BITS-1:0] idx;
  always @(*) begin
    idx = x_i - x_qmin_i;
  end

  lut #(
    .IN_BITS(IN_BITS), .FRAC_BITS(0), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED),
    .INIT_FILE(INIT_FILE)
  ) u_lut (
    .clk_i(clk_i), .rst_ni(rst_ni), .valid_i(valid_i), .x_i(idx), .valid_o(valid_o), .y_o(y_o)
  );

endmodule
