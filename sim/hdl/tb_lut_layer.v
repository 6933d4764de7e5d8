// Memory-driven wrapper for rtl/lut_layer.v (see sim/test_vit_layers.py).
//
// TABLE_FILE is the layer's table (2^IN_BITS OUT_BITS-bit entries, no guard word).
// X_FILE holds NX input codes (IN_BITS bits, plus a guard word); X_QMIN is the
// layer's x_qmin modulo 2^IN_BITS.  The codes are issued one per cycle (bubbles when
// GAPS != 0), every output is stored in order and written to Y_FILE, then `done`
// rises and `cycles` holds the cycle count.
module tb_lut_layer #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer OUT_SIGNED = 1,
  parameter integer X_QMIN     = 128,
  parameter integer NX         = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         TABLE_FILE = "",
  parameter         X_FILE     = "",
  parameter         Y_FILE     = ""
) ();

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc;     // unused here
  wire [31:0] cycles;  // with done: read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  reg [IN_BITS-1:0]  x_mem [0:NX];
  reg [OUT_BITS-1:0] y_mem [0:NX-1];
  initial begin
    $readmemh(X_FILE, x_mem);
  end

  wire [IN_BITS-1:0] x_qmin = X_QMIN[IN_BITS-1:0];

  // ---------------------------------------------------------------- issue
  reg  [31:0] xin;
  wire        take = rst_n && !gap && (xin < NX);
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      xin <= 32'd0;
    end else if (take) begin
      xin <= xin + 32'd1;
    end
  end

  reg               valid_i;
  reg [IN_BITS-1:0] x;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      valid_i <= 1'b0;
      x       <= {IN_BITS{1'b0}};
    end else begin
      valid_i <= take;
      x       <= x_mem[xin];
    end
  end

  wire                valid_o;
  wire [OUT_BITS-1:0] y;
  lut_layer #(
    .IN_BITS(IN_BITS), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .INIT_FILE(TABLE_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .x_qmin_i(x_qmin), .valid_i(valid_i), .x_i(x),
    .valid_o(valid_o), .y_o(y)
  );

  // ---------------------------------------------------------------- capture
  reg [31:0] xout;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      xout <= 32'd0;
    end else if (valid_o) begin
      y_mem[xout] <= y;
      xout        <= xout + 32'd1;
    end
  end

  // All outputs stored: dump them once, then the harness raises `done`.
  assign finish = (xout == NX);
  always @(posedge clk) begin
    if (finish && !done) begin
      $writememh(Y_FILE, y_mem);
    end
  end

endmodule
