// MAC array: ROWS x COLS output-stationary PEs with broadcast operands.
//
// One K-step per cycle: row r receives activation a[r], column c receives weight
// w[c], and PE (r, c) accumulates (a[r] - zx) * w[c].  A GEMM tile
// C[ROWS][COLS] = bias[COLS] + (A[ROWS][K] - zx) @ W[K][COLS] therefore takes K
// valid cycles; a layer engine maps ROWS output pixels x COLS output channels.
//
// Control (all sampled on the rising edge with valid_i):
//   first_i  this K-step starts a tile: the accumulators load bias_i + product
//            (bias_i is only sampled when first_i is set);
//   last_i   this K-step ends a tile: its final sums are copied to the result
//            bank (first_i and last_i together: a K = 1 tile).
//   valid_i  low = bubble, nothing changes.  Tiles may follow back to back.
//
// Results: res_valid_o pulses for one cycle when res_o / rd_res_o hold a new tile
// result; the result bank keeps it until the next tile's last step, so a tile
// can be drained while the next one accumulates (as long as the drain is done
// before the next tile finishes, e.g. ROWS cycles of rd_row_i for K >= ROWS).
//   res_o     flat bus, element (r, c) at bits [(r*COLS + c)*ACCW +: ACCW]
//   rd_res_o  row rd_row_i of the bank, column c at [c*ACCW +: ACCW]
//             (combinational; feeds a requantizer with LANES = COLS)
//
// Latency: a K-step presented in cycle t is in the input register in cycle t+1, in
// the PEs' operand registers in t+2, their product registers in t+3 and the
// accumulators in t+4 (rtl/mac_pe.v: three stages, for FPGA timing).  For a tile
// whose first step is presented in cycle t0 and which has no bubbles, res_valid_o is
// high in cycle t0 + K + 3.
module mac_array #(
  parameter integer ROWS     = 8,
  parameter integer COLS     = 8,
  parameter integer ABITS    = 8,   // activation width, 2..8 (any >= 1 works)
  parameter integer WBITS    = 8,   // weight width (signed), 2..8
  parameter integer ACCW     = 32,  // accumulator width (signed)
  parameter integer A_SIGNED = 1,   // 1: activations two's complement, 0: unsigned
  // Width of rd_row_i; derived, do not override.
  parameter integer RSELW_P  = (ROWS > 1) ? $clog2(ROWS) : 1
) (
  input  wire                      clk_i,
  input  wire                      rst_ni,
  input  wire                      valid_i,
  input  wire                      first_i,
  input  wire                      last_i,
  input  wire [ROWS*ABITS-1:0]     a_i,      // a[r] at [r*ABITS +: ABITS]
  input  wire [COLS*WBITS-1:0]     w_i,      // w[c] at [c*WBITS +: WBITS], signed
  input  wire [ABITS:0]            zx_i,     // input zero point, ABITS+1-bit signed
  input  wire [COLS*ACCW-1:0]      bias_i,   // bias[c] at [c*ACCW +: ACCW], signed
  output wire                      res_valid_o,
  output wire [ROWS*COLS*ACCW-1:0] res_o,
  input  wire [RSELW_P-1:0]        rd_row_i,
  output wire [COLS*ACCW-1:0]      rd_res_o
);

  // (a - zx) for a in [-2^(ABITS-1), 2^ABITS) and zx in the same range.
  localparam integer AXW   = ABITS + 2;

  // ---------------------------------------------------------------- input stage
  // Zero point removed once per row here, not in every PE.
  reg valid_q, first_q, last_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_q <= 1'b0;
      first_q <= 1'b0;
      last_q  <= 1'b0;
    end else begin
      valid_q <= valid_i;
      first_q <= valid_i & first_i;
      last_q  <= valid_i & last_i;
    end
  end

  wire signed [AXW-1:0] zx_x = {zx_i[ABITS], zx_i};

  reg [ROWS*AXW-1:0] ax_q;
  genvar r, c;
  generate
    for (r = 0; r < ROWS; r = r + 1) begin : g_ax
      wire [ABITS-1:0]      a    = a_i[r*ABITS +: ABITS];
      wire                  a_s  = (A_SIGNED != 0) ? a[ABITS-1] : 1'b0;
      wire signed [AXW-1:0] a_x  = {{2{a_s}}, a};
      wire signed [AXW-1:0] ax   = a_x - zx_x;
      always @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          ax_q[r*AXW +: AXW] <= {AXW{1'b0}};
        end else if (valid_i) begin
          ax_q[r*AXW +: AXW] <= ax;
        end
      end
    end
  endgenerate

  reg [COLS*WBITS-1:0] w_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      w_q <= {(COLS*WBITS){1'b0}};
    end else if (valid_i) begin
      w_q <= w_i;
    end
  end

  reg [COLS*ACCW-1:0] bias_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      bias_q <= {(COLS*ACCW){1'b0}};
    end else if (valid_i && first_i) begin
      bias_q <= bias_i;
    end
  end

  // ---------------------------------------------------------------- PE grid
  generate
    for (r = 0; r < ROWS; r = r + 1) begin : g_row
      for (c = 0; c < COLS; c = c + 1) begin : g_col
        mac_pe #(
          .AXW   (AXW),
          .WBITS (WBITS),
          .ACCW  (ACCW)
        ) u_pe (
          .clk_i   (clk_i),
          .rst_ni  (rst_ni),
          .valid_i (valid_q),
          .first_i (first_q),
          .last_i  (last_q),
          .ax_i    (ax_q[r*AXW +: AXW]),
          .w_i     (w_q[c*WBITS +: WBITS]),
          .bias_i  (bias_q[c*ACCW +: ACCW]),
          .res_o   (res_o[(r*COLS + c)*ACCW +: ACCW])
        );
      end
    end
  endgenerate

  // The result bank was written at the same edge as this flag: last_q through the
  // PEs' operand and product stages.
  reg [1:0] last_d_q;
  reg       res_valid_q;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      last_d_q    <= 2'b00;
      res_valid_q <= 1'b0;
    end else begin
      last_d_q    <= {last_d_q[0], last_q};
      res_valid_q <= last_d_q[1];
    end
  end
  assign res_valid_o = res_valid_q;

  // ---------------------------------------------------------------- row read port
  assign rd_res_o = res_o[rd_row_i*COLS*ACCW +: COLS*ACCW];

endmodule
