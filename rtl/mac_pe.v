// One processing element of mac_array: an output-stationary multiply-accumulate,
// pipelined in three register stages for FPGA timing:
//
//   stage 1  operand registers: ax, w (and bias with first_i) copied from the
//            broadcast buses into this PE, so their long routes end at a flip-flop;
//   stage 2  product register:  prod = ax * w  (the DSP block's multiply alone);
//   stage 3  accumulate:        acc <= (first ? bias : acc) + prod,
//                               res <= that value when the step is the tile's last.
//
// A K-step presented with valid_i in cycle t is in the accumulator at the end of cycle
// t + 2 (LATENCY = 3 edges); first_i / last_i / bias_i travel with it, so steps and
// tiles may follow back to back (a K = 1 tile after a K = 1 tile included).
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

  // The product register: AXW + WBITS bits hold every product exactly; an ACCW below
  // that keeps ACCW bits (the product wraps modulo 2^ACCW, like the accumulator).
  localparam integer PW = (AXW + WBITS < ACCW) ? AXW + WBITS : ACCW;

  // ---------------------------------------------------------------- stage 1
  reg                    v1_q, f1_q, l1_q;
  reg signed [AXW-1:0]   ax1_q;
  reg signed [WBITS-1:0] w1_q;
  reg signed [ACCW-1:0]  b1_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v1_q  <= 1'b0;
      f1_q  <= 1'b0;
      l1_q  <= 1'b0;
      ax1_q <= {AXW{1'b0}};
      w1_q  <= {WBITS{1'b0}};
      b1_q  <= {ACCW{1'b0}};
    end else begin
      v1_q <= valid_i;
      f1_q <= valid_i & first_i;
      l1_q <= valid_i & last_i;
      if (valid_i) begin
        ax1_q <= ax_i;
        w1_q  <= w_i;
      end
      if (valid_i && first_i) begin
        b1_q <= bias_i;
      end
    end
  end

  // ---------------------------------------------------------------- stage 2
  reg                   v2_q, f2_q, l2_q;
  reg signed [PW-1:0]   prod_q;
  reg signed [ACCW-1:0] b2_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v2_q   <= 1'b0;
      f2_q   <= 1'b0;
      l2_q   <= 1'b0;
      prod_q <= {PW{1'b0}};
      b2_q   <= {ACCW{1'b0}};
    end else begin
      v2_q <= v1_q;
      f2_q <= f1_q;
      l2_q <= l1_q;
      if (v1_q) begin
        prod_q <= $signed({{(PW-AXW){ax1_q[AXW-1]}}, ax1_q}) * $signed({{(PW-WBITS){w1_q[WBITS-1]}}, w1_q});
      end
      if (f1_q) begin
        b2_q <= b1_q;
      end
    end
  end

  // ---------------------------------------------------------------- stage 3
  // (one always @(*) block: Icarus simulates that much faster than continuous assigns)
  reg signed [ACCW-1:0] acc_q, prod_x, acc_d;
  always @(*) begin
    /* verilator lint_off WIDTHEXPAND */
    prod_x = prod_q;  // signed: sign-extended to ACCW bits
    /* verilator lint_on WIDTHEXPAND */
    acc_d  = (f2_q ? b2_q : acc_q) + prod_x;
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      acc_q <= {ACCW{1'b0}};
    end else if (v2_q) begin
      acc_q <= acc_d;
    end
  end

  reg signed [ACCW-1:0] res_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      res_q <= {ACCW{1'b0}};
    end else if (v2_q && l2_q) begin
      res_q <= acc_d;
    end
  end
  assign res_o = res_q;

endmodule
