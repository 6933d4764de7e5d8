// Memory-driven wrapper for rtl/layer_engine.v (t2c/sim/units/layer_engine.py).
//
// The engine loads its own memories from the *_FILE images (t2c/export/engine.py).
// After reset this wrapper pulses start_i, waits for done_o, reads the output memory
// through the engine's read port (one word per cycle) into tb_dump, which writes it to
// Y_FILE with $writememh and raises `finish` (the harness then raises `done`).
// eng_cycles / eng_steps / eng_err are the engine's own counters and error flag.
module tb_layer_engine #(
  parameter integer ROWS       = 8,
  parameter integer COLS       = 8,
  parameter integer ABITS      = 8,
  parameter integer WBITS      = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer OBITS      = 8,
  parameter integer ACT_WORDS  = 1,
  parameter integer W_WORDS    = 1,
  parameter integer CT_WORDS   = 1,
  parameter integer RES_WORDS  = 1,
  parameter integer OUT_WORDS  = 1,
  parameter         DESC_FILE  = "",
  parameter         TILES_FILE = "",
  parameter         ACT_FILE   = "",
  parameter         W_FILE     = "",
  parameter         BIAS_FILE  = "",
  parameter         M_FILE     = "",
  parameter         S_FILE     = "",
  parameter         RES_FILE   = "",
  parameter         RM_FILE    = "",
  parameter         Y_FILE     = "",
  parameter integer FINISH     = 0    // tb_harness: $finish when done (runs without cocotb)
) (
  output wire        done,
  output wire [31:0] cycles,
  output wire        rst_n,
  output wire [31:0] eng_cycles,
  output wire [31:0] eng_steps,
  output wire        eng_err
);

  localparam integer OAW = (OUT_WORDS > 1) ? $clog2(OUT_WORDS) : 1;
  // layer_engine's MDW_P: its host write port, tied off (the images come from the files)
  localparam integer MDW = ((ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS > 128) ?
                           (ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS : 128;

  wire clk, finish;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc;
  wire        gap;
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.FINISH(FINISH)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- start
  reg started_q, start_q;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      started_q <= 1'b0;
      start_q   <= 1'b0;
    end else begin
      start_q   <= !started_q;
      started_q <= 1'b1;
    end
  end

  wire                  eng_done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire                  eng_busy;  // done_o implies not busy
  /* verilator lint_on UNUSEDSIGNAL */
  reg  [OAW-1:0]        raddr_q;
  wire [COLS*OBITS-1:0] rdata;
  layer_engine #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(ABITS), .WBITS(WBITS), .ACCW(ACCW),
    .MULT_BITS(MULT_BITS), .OBITS(OBITS), .ACT_WORDS(ACT_WORDS), .W_WORDS(W_WORDS),
    .CT_WORDS(CT_WORDS), .RES_WORDS(RES_WORDS), .OUT_WORDS(OUT_WORDS),
    .DESC_FILE(DESC_FILE), .TILES_FILE(TILES_FILE), .ACT_FILE(ACT_FILE), .W_FILE(W_FILE),
    .BIAS_FILE(BIAS_FILE), .M_FILE(M_FILE), .S_FILE(S_FILE), .RES_FILE(RES_FILE),
    .RM_FILE(RM_FILE)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .start_i(start_q), .busy_o(eng_busy), .done_o(eng_done),
    .err_o(eng_err), .cycles_o(eng_cycles), .steps_o(eng_steps),
    .cfg_we_i(1'b0), .cfg_addr_i(5'd0), .cfg_wdata_i(32'd0),
    .mem_we_i(1'b0), .mem_sel_i(4'd0), .mem_addr_i(24'd0), .mem_wdata_i({MDW{1'b0}}),
    .out_raddr_i(raddr_q), .out_rdata_o(rdata)
  );

  // ---------------------------------------------------------------- read the output memory
  // Address n is presented in one cycle and sampled by the memory at the next edge; its
  // word is on rdata one cycle later (v1/v2 track it) and goes to the dump (tb_dump),
  // whose full_o is the wrapper's finish.
  reg [31:0] rd_n_q;
  reg        v1_q, v2_q;
  wire       reading = eng_done && !finish;
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      raddr_q <= {OAW{1'b0}};
      rd_n_q  <= 32'd0;
      v1_q    <= 1'b0;
      v2_q    <= 1'b0;
    end else if (reading) begin
      if (rd_n_q < OUT_WORDS) begin
        raddr_q <= rd_n_q[OAW-1:0];
        rd_n_q  <= rd_n_q + 32'd1;
      end
      v1_q <= (rd_n_q < OUT_WORDS);
      v2_q <= v1_q;
    end
  end

  tb_dump #(.WIDTH(COLS*OBITS), .NVEC(OUT_WORDS), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(reading && v2_q), .data_i(rdata), .done_i(done),
    .full_o(finish)
  );

endmodule
