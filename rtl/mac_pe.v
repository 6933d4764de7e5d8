// One processing element of mac_array: an output-stationary multiply-accumulate.
//
//   valid_i & first_i : acc <= bias_i + ax_i * w_i     (start of a tile)
//   valid_i & !first_i: acc <= acc    + ax_i * w_i     (next K-step)
//   valid_i & last_i  : res <= the value acc takes at this edge (tile result)
//
// ax_i is the activation with its zero point already removed (a - zx), computed
// once per row by mac_array.  The accumulator wraps modulo 2^ACCW; the converter
// proves at convert time that int32 cannot overflow (t2c.arith.accumulator_bound).
// res_o is a second register so the next tile can accumulate while this tile's
// result is drained (double buffering).
module mac_pe #(
  parameter integer AXW   = 10,  // width of ax_i = a - zx (signed)
  parameter integer WBITS = 8,   // weight width (signed)
  parameter integer ACCW  = 32   // accumulator width (signed), > AXW and > WBITS
) (
  input  wire                   clk_i,
  input  wire                   rst_ni,
  input  wire                   valid_i,
  input  wire                   first_i,
  input  wire                   last_i,
  input  wire signed [AXW-1:0]  ax_i,
  input  wire signed [WBITS-1:0] w_i,
  input  wire signed [ACCW-1:0] bias_i,
  output wire signed [ACCW-1:0] res_o
);

  // Combinational logic in one always @(*) block (Icarus simulates that much faster
  // than a chain of continuous assignments).  Both operands are sign-extended to
  // ACCW bits, so the product is exact for ACCW >= AXW + WBITS and wraps modulo
  // 2^ACCW otherwise, like the accumulator.
  reg signed [ACCW-1:0] acc_q;
  reg signed [ACCW-1:0] prod, acc_d;
  always @(*) begin
    prod  = $signed({{(ACCW-AXW){ax_i[AXW-1]}}, ax_i})
          * $signed({{(ACCW-WBITS){w_i[WBITS-1]}}, w_i});
    acc_d = (first_i ? bias_i : acc_q) + prod;
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      acc_q <= {ACCW{1'b0}};
    end else if (valid_i) begin
      acc_q <= acc_d;
    end
  end

  reg signed [ACCW-1:0] res_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      res_q <= {ACCW{1'b0}};
    end else if (valid_i && last_i) begin
      res_q <= acc_d;
    end
  end
  assign res_o = res_q;

endmodule
