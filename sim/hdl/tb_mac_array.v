// Memory-driven wrapper for rtl/mac_array.v (see sim/test_mac_array.py).
//
// Operand images (one value per line, each followed by a guard word):
//   A_FILE    NSTEPS*ROWS activations, a[step*ROWS + r]
//   W_FILE    NSTEPS*COLS weights,     w[step*COLS + c]
//   CTRL_FILE NSTEPS words: bit 0 first K-step of a tile, bit 1 last K-step
//   ZX_FILE   NTILES input zero points (ABITS+1-bit signed)
//   BIAS_FILE NTILES*COLS biases, bias[tile*COLS + c]
// The K-steps are issued back to back (bubbles when GAPS != 0), tiles too.
// Outputs: RES_FILE NTILES*ROWS*COLS results res[(tile*ROWS + r)*COLS + c], and
// CYC_FILE 2*NTILES cycle stamps: [2t] cycle of tile t's first K-step at the DUT
// inputs, [2t+1] cycle in which res_valid_o announced its result.
// row_err counts cycles in which the row read port disagreed with the flat bus.
module tb_mac_array #(
  parameter integer ROWS      = 8,
  parameter integer COLS      = 8,
  parameter integer ABITS     = 8,
  parameter integer WBITS     = 8,
  parameter integer ACCW      = 32,
  parameter integer A_SIGNED  = 1,
  parameter integer NSTEPS    = 1,
  parameter integer NTILES    = 1,
  parameter integer GAPS      = 0,
  parameter integer GAP_SEED  = 1,
  parameter         A_FILE    = "",
  parameter         W_FILE    = "",
  parameter         CTRL_FILE = "",
  parameter         ZX_FILE   = "",
  parameter         BIAS_FILE = "",
  parameter         RES_FILE  = "",
  parameter         CYC_FILE  = ""
) ();

  localparam integer RSELW = (ROWS > 1) ? $clog2(ROWS) : 1;
  localparam integer NRES  = NTILES * ROWS * COLS;

  wire        clk, rst_n, gap, finish, done;
  wire [31:0] cyc;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cycles;  // with done: read by the cocotb test (simutil.wait_done)
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  reg [ABITS-1:0] a_mem    [0:NSTEPS*ROWS];
  reg [WBITS-1:0] w_mem    [0:NSTEPS*COLS];
  reg [1:0]       ctrl_mem [0:NSTEPS];
  reg [ABITS:0]   zx_mem   [0:NTILES];
  reg [ACCW-1:0]  bias_mem [0:NTILES*COLS];
  reg [ACCW-1:0]  res_mem  [0:NRES-1];
  reg [31:0]      cyc_mem  [0:2*NTILES-1];
  initial begin
    $readmemh(A_FILE, a_mem);
    $readmemh(W_FILE, w_mem);
    $readmemh(CTRL_FILE, ctrl_mem);
    $readmemh(ZX_FILE, zx_mem);
    $readmemh(BIAS_FILE, bias_mem);
  end

  // ---------------------------------------------------------------- issue
  // K-step `step` of tile `itile` is read into registers (a synchronous-RAM-like
  // read), so the DUT sees it in the next cycle.
  reg  [31:0] step, itile;
  wire        take = rst_n && !gap && (step < NSTEPS);
  wire [1:0]  ctrl = ctrl_mem[step];
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      step  <= 32'd0;
      itile <= 32'd0;
    end else if (take) begin
      step <= step + 32'd1;
      if (ctrl[1]) begin
        itile <= itile + 32'd1;
      end
    end
  end

  reg                  valid_i, first_i, last_i;
  reg [ROWS*ABITS-1:0] a_bus;
  reg [COLS*WBITS-1:0] w_bus;
  reg [COLS*ACCW-1:0]  bias_bus;
  reg [ABITS:0]        zx;
  integer i;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      valid_i  <= 1'b0;
      first_i  <= 1'b0;
      last_i   <= 1'b0;
      a_bus    <= {(ROWS*ABITS){1'b0}};
      w_bus    <= {(COLS*WBITS){1'b0}};
      bias_bus <= {(COLS*ACCW){1'b0}};
      zx       <= {(ABITS+1){1'b0}};
    end else begin
      valid_i <= take;
      first_i <= take && ctrl[0];
      last_i  <= take && ctrl[1];
      for (i = 0; i < ROWS; i = i + 1) begin
        a_bus[i*ABITS +: ABITS] <= a_mem[step*ROWS + i];
      end
      for (i = 0; i < COLS; i = i + 1) begin
        w_bus[i*WBITS +: WBITS]   <= w_mem[step*COLS + i];
        bias_bus[i*ACCW +: ACCW]  <= bias_mem[itile*COLS + i];
      end
      zx <= zx_mem[itile];
    end
  end

  wire                      res_valid;
  wire [ROWS*COLS*ACCW-1:0] res;
  reg  [RSELW-1:0]          rd_row;
  wire [COLS*ACCW-1:0]      rd_res;
  mac_array #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(ABITS), .WBITS(WBITS), .ACCW(ACCW), .A_SIGNED(A_SIGNED)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n),
    .valid_i(valid_i), .first_i(first_i), .last_i(last_i),
    .a_i(a_bus), .w_i(w_bus), .zx_i(zx), .bias_i(bias_bus),
    .res_valid_o(res_valid), .res_o(res),
    .rd_row_i(rd_row), .rd_res_o(rd_res)
  );

  // ---------------------------------------------------------------- capture
  reg [31:0] stile, otile;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      stile <= 32'd0;
      otile <= 32'd0;
    end else begin
      if (valid_i && first_i) begin
        cyc_mem[2*stile] <= cyc;
        stile <= stile + 32'd1;
      end
      if (res_valid) begin
        for (i = 0; i < ROWS*COLS; i = i + 1) begin
          res_mem[otile*ROWS*COLS + i] <= res[i*ACCW +: ACCW];
        end
        cyc_mem[2*otile + 1] <= cyc;
        otile <= otile + 32'd1;
      end
    end
  end

  // The row read port, swept over all rows, must equal the flat bus.
  /* verilator lint_off UNUSEDSIGNAL */
  reg [31:0] row_err;  // read by the cocotb test
  /* verilator lint_on UNUSEDSIGNAL */
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      rd_row  <= {RSELW{1'b0}};
      row_err <= 32'd0;
    end else begin
      rd_row <= ({{(32-RSELW){1'b0}}, rd_row} == ROWS - 1) ? {RSELW{1'b0}} : rd_row + 1'b1;
      if (rd_res !== res[rd_row*COLS*ACCW +: COLS*ACCW]) begin
        row_err <= row_err + 32'd1;
      end
    end
  end

  // All outputs stored: dump them once, then the harness raises `done`.
  assign finish = (otile == NTILES);
  always @(posedge clk) begin
    if (finish && !done) begin
      $writememh(RES_FILE, res_mem);
      $writememh(CYC_FILE, cyc_mem);
    end
  end

endmodule
