// Memory-driven wrapper for rtl/mac_array.v (see sim/test_mac_array.py).
//
// Operand images (one value per line, each followed by a guard word):
//   A_FILE    NSTEPS*ROWS activations, a[step*ROWS + r]
//   W_FILE    NSTEPS*COLS weights,     w[step*COLS + c]
//   CTRL_FILE NSTEPS words: bit 0 first K-step of a tile, bit 1 last K-step
//   ZX_FILE   NTILES input zero points (ABITS+1-bit signed)
//   BIAS_FILE NTILES*COLS biases, bias[tile*COLS + c]
// The K-steps are issued back to back (bubbles when GAPS != 0), tiles too.
// Outputs: RES_FILE NTILES*ROWS*COLS results res[(tile*ROWS + r)*COLS + c], and two
// files of NTILES cycle stamps: START_FILE [t] the cycle of tile t's first K-step at
// the DUT inputs, DONE_FILE [t] the cycle in which res_valid_o announced its result.
// (Clock and reset: tb_harness; images and dump: tb_image, tb_dump.)
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
  parameter         RES_FILE   = "",
  parameter         START_FILE = "",
  parameter         DONE_FILE  = ""
) ();

  localparam integer RSELW = (ROWS > 1) ? $clog2(ROWS) : 1;

  wire        clk, rst_n, gap, finish, done;
  wire [31:0] cyc;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cycles;  // with done: read by t2c.sim.cocotb_side
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- issue
  // K-step `step` of tile `itile` is read into registers (a synchronous-RAM-like
  // read), so the DUT sees it in the next cycle.
  reg  [31:0]           step, itile;
  wire [ROWS*ABITS-1:0] a_rd;
  wire [COLS*WBITS-1:0] w_rd;
  wire [1:0]            ctrl;
  wire [ABITS:0]        zx_rd;
  wire [COLS*ACCW-1:0]  bias_rd;
  tb_image #(.WIDTH(ABITS), .WORDS(NSTEPS*ROWS), .LANES(ROWS), .FILE(A_FILE)) u_a (
    .addr_i(step), .rd_o(a_rd));
  tb_image #(.WIDTH(WBITS), .WORDS(NSTEPS*COLS), .LANES(COLS), .FILE(W_FILE)) u_w (
    .addr_i(step), .rd_o(w_rd));
  tb_image #(.WIDTH(2), .WORDS(NSTEPS), .FILE(CTRL_FILE)) u_ctrl (.addr_i(step), .rd_o(ctrl));
  tb_image #(.WIDTH(ABITS+1), .WORDS(NTILES), .FILE(ZX_FILE)) u_zx (.addr_i(itile), .rd_o(zx_rd));
  tb_image #(.WIDTH(ACCW), .WORDS(NTILES*COLS), .LANES(COLS), .FILE(BIAS_FILE)) u_bias (
    .addr_i(itile), .rd_o(bias_rd));

  wire take = rst_n && !gap && (step < NSTEPS);
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
      valid_i  <= take;
      first_i  <= take && ctrl[0];
      last_i   <= take && ctrl[1];
      a_bus    <= a_rd;
      w_bus    <= w_rd;
      bias_bus <= bias_rd;
      zx       <= zx_rd;
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
  wire res_full, start_full, done_full;
  tb_dump #(.WIDTH(ACCW), .LANES(ROWS*COLS), .NVEC(NTILES), .FILE(RES_FILE)) u_res (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(res_valid), .data_i(res), .done_i(done),
    .full_o(res_full)
  );
  tb_dump #(.WIDTH(32), .NVEC(NTILES), .FILE(START_FILE)) u_start (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_i && first_i), .data_i(cyc), .done_i(done),
    .full_o(start_full)
  );
  tb_dump #(.WIDTH(32), .NVEC(NTILES), .FILE(DONE_FILE)) u_done (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(res_valid), .data_i(cyc), .done_i(done),
    .full_o(done_full)
  );
  assign finish = res_full && start_full && done_full;

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

endmodule
