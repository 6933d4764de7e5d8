// The layer engine (rtl/layer_engine.v) behind an AXI4-Lite slave (32-bit data): control
// and status registers, the descriptor, write windows into every engine memory and a read
// window onto the output memory, so that a host (a CPU, a JTAG-to-AXI bridge, a cocotb
// testbench) can load a layer, start it, poll done and read its result over one bus.
//
// The register map has one source, rtl/engine_regs.rdl (SystemRDL): the C header
// host/t2c_engine_regs.h and docs/engine_regs.md are generated from it
// (tools/engine_regs.py) and sim/test_engine_axi.py checks that the REG_* / *_LSB
// localparams below are the RDL's addresses and fields.  Address bits [31:24] pick a
// region:
//
//   0x00  registers (offsets below; unmapped offsets read 0, writes to them are ignored)
//   0x01 .. 0x08  write windows of the memories  tiles, activation, weight, bias, m, s,
//         residual, m_r (layer_engine mem_sel_i 1 .. 8; the descriptor is in the registers)
//   0x09  read window of the output memory
//
// Wide words are moved as 32-bit lanes.  In a window, lane j of word w is at byte offset
// (w << (LANE_SHIFT + 2)) + 4 j, LANE_SHIFT = clog2(ceil(widest word / 32)) (register
// GEOMETRY2); lane j holds bits [32 j +: 32] of the word.  Writes go to a staging register;
// the write of lane 0 commits the staged word (lane 0 = this write) to the memory and
// clears the staging register.  So: write a word's lanes highest first, lane 0 last;
// lanes not written since the last commit are 0 (all-zero upper lanes may be skipped).
// Reads of the output window return lane j of output word w (bits past the word: 0).
//
// Writes to the descriptor or a memory window while the engine is busy are dropped and
// answered SLVERR; every other access is answered OKAY.  WSTRB is ignored (every write
// is a whole 32-bit lane), AWPROT/ARPROT too.  $readmemh initialisation (the *_FILE
// parameters) still loads every memory at time 0: a host then only needs to start.
module engine_axi #(
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
  parameter         RM_FILE    = ""
) (
  input  wire        clk_i,
  input  wire        rst_ni,
  // AXI4-Lite slave
  input  wire [31:0] s_axil_awaddr,
  input  wire [2:0]  s_axil_awprot,
  input  wire        s_axil_awvalid,
  output wire        s_axil_awready,
  input  wire [31:0] s_axil_wdata,
  input  wire [3:0]  s_axil_wstrb,
  input  wire        s_axil_wvalid,
  output wire        s_axil_wready,
  output wire [1:0]  s_axil_bresp,
  output wire        s_axil_bvalid,
  input  wire        s_axil_bready,
  input  wire [31:0] s_axil_araddr,
  input  wire [2:0]  s_axil_arprot,
  input  wire        s_axil_arvalid,
  output wire        s_axil_arready,
  output wire [31:0] s_axil_rdata,
  output wire [1:0]  s_axil_rresp,
  output wire        s_axil_rvalid,
  input  wire        s_axil_rready,
  // the engine's status, e.g. for an interrupt line (done_o) or LEDs
  output wire        busy_o,
  output wire        done_o,
  output wire        err_o
);

  // ---------------------------------------------------------------- register map
  // (rtl/engine_regs.rdl; sim/test_engine_axi.py compares these with it)
  localparam [23:0] REG_ID        = 24'h000000;
  localparam [23:0] REG_VERSION   = 24'h000004;
  localparam [23:0] REG_GEOMETRY  = 24'h000008;
  localparam [23:0] REG_GEOMETRY2 = 24'h00000C;
  localparam [23:0] REG_CTRL      = 24'h000010;
  localparam [23:0] REG_STATUS    = 24'h000014;
  localparam [23:0] REG_CYCLES    = 24'h000018;
  localparam [23:0] REG_STEPS     = 24'h00001C;
  localparam [23:0] REG_ACT_WORDS = 24'h000020;
  localparam [23:0] REG_W_WORDS   = 24'h000024;
  localparam [23:0] REG_CT_WORDS  = 24'h000028;
  localparam [23:0] REG_RES_WORDS = 24'h00002C;
  localparam [23:0] REG_OUT_WORDS = 24'h000030;
  localparam [23:0] REG_DESC      = 24'h000100;  // 32 words, write-only
  localparam integer GEOMETRY_ROWS_LSB = 0, GEOMETRY_COLS_LSB = 8, GEOMETRY_ABITS_LSB = 16,
                     GEOMETRY_WBITS_LSB = 24;
  localparam integer GEOMETRY2_ACCW_LSB = 0, GEOMETRY2_MULT_BITS_LSB = 8, GEOMETRY2_OBITS_LSB = 16,
                     GEOMETRY2_LANE_SHIFT_LSB = 24;
  localparam integer CTRL_START_LSB = 0;
  localparam integer STATUS_BUSY_LSB = 0, STATUS_DONE_LSB = 1, STATUS_ERR_LSB = 2;
  localparam integer VERSION_MINOR_LSB = 0, VERSION_MAJOR_LSB = 16;
  localparam [31:0] ID_VALUE      = 32'h74324158;  // "t2AX"
  localparam [15:0] VERSION_MAJOR = 16'd1, VERSION_MINOR = 16'd0;
  localparam [7:0]  WIN_OUTPUT    = 8'h09;         // windows 0x01 .. 0x08: mem_sel_i 1 .. 8

  // ---------------------------------------------------------------- lanes
  localparam integer MDW      = ((ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS > 128) ?
                                (ACCW > MULT_BITS ? ACCW : MULT_BITS) * COLS : 128;  // layer_engine MDW_P
  localparam integer OW       = COLS * OBITS;
  localparam integer WIDEST   = (MDW > OW) ? MDW : OW;
  localparam integer LANES    = (WIDEST + 31) / 32;
  localparam integer LSHIFT   = (LANES > 1) ? $clog2(LANES) : 0;
  localparam integer STW      = 32 << LSHIFT;  // staging register: every lane a window word has
  localparam integer OAW      = (OUT_WORDS > 1) ? $clog2(OUT_WORDS) : 1;
  localparam [23:0]  LMASK    = (24'd1 << LSHIFT) - 24'd1;

  /* verilator lint_off WIDTHTRUNC */
  localparam [7:0] P_ROWS = ROWS, P_COLS = COLS, P_ABITS = ABITS, P_WBITS = WBITS, P_ACCW = ACCW,
                   P_MULT = MULT_BITS, P_OBITS = OBITS, P_LSHIFT = LSHIFT;
  localparam [31:0] P_ACT_WORDS = ACT_WORDS, P_W_WORDS = W_WORDS, P_CT_WORDS = CT_WORDS,
                    P_RES_WORDS = RES_WORDS, P_OUT_WORDS = OUT_WORDS;
  /* verilator lint_on WIDTHTRUNC */

  // ---------------------------------------------------------------- engine
  wire [31:0]       eng_cycles, eng_steps;
  wire              eng_busy, eng_done, eng_err;
  reg               start_q;
  reg               cfg_we_q, mem_we_q;
  reg  [4:0]        cfg_addr_q;
  reg  [31:0]       cfg_wdata_q;
  reg  [3:0]        mem_sel_q;
  reg  [23:0]       mem_addr_q;
  reg  [MDW-1:0]    mem_wdata_q;
  reg  [OAW-1:0]    out_raddr_q;
  wire [OW-1:0]     out_rdata;

  layer_engine #(
    .ROWS(ROWS), .COLS(COLS), .ABITS(ABITS), .WBITS(WBITS), .ACCW(ACCW),
    .MULT_BITS(MULT_BITS), .OBITS(OBITS), .ACT_WORDS(ACT_WORDS), .W_WORDS(W_WORDS),
    .CT_WORDS(CT_WORDS), .RES_WORDS(RES_WORDS), .OUT_WORDS(OUT_WORDS),
    .DESC_FILE(DESC_FILE), .TILES_FILE(TILES_FILE), .ACT_FILE(ACT_FILE), .W_FILE(W_FILE),
    .BIAS_FILE(BIAS_FILE), .M_FILE(M_FILE), .S_FILE(S_FILE), .RES_FILE(RES_FILE),
    .RM_FILE(RM_FILE)
  ) u_eng (
    .clk_i(clk_i), .rst_ni(rst_ni), .start_i(start_q), .busy_o(eng_busy), .done_o(eng_done),
    .err_o(eng_err), .cycles_o(eng_cycles), .steps_o(eng_steps),
    .cfg_we_i(cfg_we_q), .cfg_addr_i(cfg_addr_q), .cfg_wdata_i(cfg_wdata_q),
    .mem_we_i(mem_we_q), .mem_sel_i(mem_sel_q), .mem_addr_i(mem_addr_q), .mem_wdata_i(mem_wdata_q),
    .out_raddr_i(out_raddr_q), .out_rdata_o(out_rdata)
  );
  assign busy_o = eng_busy;
  assign done_o = eng_done;
  assign err_o  = eng_err;

  // ---------------------------------------------------------------- write channel
  // AW and W are taken independently; with both held and no response pending the write
  // is performed and answered (one write every 3 cycles with an always-ready master).
  reg         aw_full_q, w_full_q, bvalid_q;
  reg  [1:0]  bresp_q;
  /* verilator lint_off UNUSEDSIGNAL */
  reg  [31:0] aw_addr_q;     // bits [1:0]: byte address, ignored
  wire [2:0]  unused_prot = s_axil_awprot | s_axil_arprot;
  wire [3:0]  unused_strb = s_axil_wstrb;
  /* verilator lint_on UNUSEDSIGNAL */
  reg  [31:0] w_data_q;
  reg  [STW-1:0] stage_q;
  assign s_axil_awready = !aw_full_q;
  assign s_axil_wready  = !w_full_q;
  assign s_axil_bvalid  = bvalid_q;
  assign s_axil_bresp   = bresp_q;

  wire        do_write = aw_full_q && w_full_q && !bvalid_q;
  wire [7:0]  w_region = aw_addr_q[31:24];
  wire [23:0] w_off    = aw_addr_q[23:0];
  wire [23:0] w_lane   = (w_off >> 2) & LMASK;
  wire [23:0] w_word   = w_off >> (LSHIFT + 2);
  wire        w_is_mem  = (w_region >= 8'h01) && (w_region <= 8'h08);
  wire        w_is_desc = (w_region == 8'h00) && (w_off >= REG_DESC) && (w_off < REG_DESC + 24'h80);
  wire        w_refused = eng_busy && (w_is_mem || w_is_desc);
  /* verilator lint_off UNUSEDSIGNAL */
  reg  [STW-1:0] commit;  // lanes past the widest memory word are dropped
  /* verilator lint_on UNUSEDSIGNAL */
  always @(*) begin
    commit       = stage_q;
    commit[31:0] = w_data_q;
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      aw_full_q   <= 1'b0;
      w_full_q    <= 1'b0;
      bvalid_q    <= 1'b0;
      bresp_q     <= 2'b00;
      aw_addr_q   <= 32'd0;
      w_data_q    <= 32'd0;
      stage_q     <= {STW{1'b0}};
      start_q     <= 1'b0;
      cfg_we_q    <= 1'b0;
      cfg_addr_q  <= 5'd0;
      cfg_wdata_q <= 32'd0;
      mem_we_q    <= 1'b0;
      mem_sel_q   <= 4'd0;
      mem_addr_q  <= 24'd0;
      mem_wdata_q <= {MDW{1'b0}};
    end else begin
      start_q  <= 1'b0;
      cfg_we_q <= 1'b0;
      mem_we_q <= 1'b0;
      if (s_axil_awvalid && !aw_full_q) begin
        aw_addr_q <= s_axil_awaddr;
        aw_full_q <= 1'b1;
      end
      if (s_axil_wvalid && !w_full_q) begin
        w_data_q <= s_axil_wdata;
        w_full_q <= 1'b1;
      end
      if (do_write) begin
        aw_full_q <= 1'b0;
        w_full_q  <= 1'b0;
        bvalid_q  <= 1'b1;
        bresp_q   <= w_refused ? 2'b10 : 2'b00;
        if (!w_refused) begin
          if (w_region == 8'h00 && w_off == REG_CTRL) begin
            start_q <= w_data_q[CTRL_START_LSB];
          end
          if (w_is_desc) begin
            cfg_we_q    <= 1'b1;
            cfg_addr_q  <= w_off[6:2];
            cfg_wdata_q <= w_data_q;
          end
          if (w_is_mem) begin
            if (w_lane == 24'd0) begin
              mem_we_q    <= 1'b1;
              mem_sel_q   <= w_region[3:0];
              mem_addr_q  <= w_word;
              mem_wdata_q <= commit[MDW-1:0];
              stage_q     <= {STW{1'b0}};
            end else begin
              stage_q[w_lane[LSHIFT:0]*32 +: 32] <= w_data_q;
            end
          end
        end
      end else if (bvalid_q && s_axil_bready) begin
        bvalid_q <= 1'b0;
      end
    end
  end

  // ---------------------------------------------------------------- read channel
  // Registers answer in the cycle after the address; the output window two cycles later
  // (the output memory's registered read).
  localparam [1:0] R_IDLE = 2'd0, R_WAIT1 = 2'd1, R_WAIT2 = 2'd2;
  reg  [1:0]  rstate_q;
  reg         rvalid_q;
  reg  [31:0] rdata_q;
  reg  [LSHIFT:0] rlane_q;
  assign s_axil_arready = (rstate_q == R_IDLE) && !rvalid_q;
  assign s_axil_rvalid  = rvalid_q;
  assign s_axil_rdata   = rdata_q;
  assign s_axil_rresp   = 2'b00;

  wire [7:0]  r_region = s_axil_araddr[31:24];
  wire [23:0] r_off    = s_axil_araddr[23:0];
  /* verilator lint_off UNUSEDSIGNAL */
  wire [23:0] r_lane   = (r_off >> 2) & LMASK;
  wire [23:0] r_word   = r_off >> (LSHIFT + 2);  // the low OAW bits address the output memory
  /* verilator lint_on UNUSEDSIGNAL */
  reg  [31:0] reg_rdata;
  always @(*) begin
    reg_rdata = 32'd0;
    if (r_region == 8'h00) begin
      case (r_off)
        REG_ID:        reg_rdata = ID_VALUE;
        REG_VERSION:   reg_rdata = ({16'd0, VERSION_MAJOR} << VERSION_MAJOR_LSB)
                                 | ({16'd0, VERSION_MINOR} << VERSION_MINOR_LSB);
        REG_GEOMETRY:  reg_rdata = ({24'd0, P_ROWS} << GEOMETRY_ROWS_LSB)
                                 | ({24'd0, P_COLS} << GEOMETRY_COLS_LSB)
                                 | ({24'd0, P_ABITS} << GEOMETRY_ABITS_LSB)
                                 | ({24'd0, P_WBITS} << GEOMETRY_WBITS_LSB);
        REG_GEOMETRY2: reg_rdata = ({24'd0, P_ACCW} << GEOMETRY2_ACCW_LSB)
                                 | ({24'd0, P_MULT} << GEOMETRY2_MULT_BITS_LSB)
                                 | ({24'd0, P_OBITS} << GEOMETRY2_OBITS_LSB)
                                 | ({24'd0, P_LSHIFT} << GEOMETRY2_LANE_SHIFT_LSB);
        REG_STATUS:    reg_rdata = ({31'd0, eng_busy} << STATUS_BUSY_LSB)
                                 | ({31'd0, eng_done} << STATUS_DONE_LSB)
                                 | ({31'd0, eng_err} << STATUS_ERR_LSB);
        REG_CYCLES:    reg_rdata = eng_cycles;
        REG_STEPS:     reg_rdata = eng_steps;
        REG_ACT_WORDS: reg_rdata = P_ACT_WORDS;
        REG_W_WORDS:   reg_rdata = P_W_WORDS;
        REG_CT_WORDS:  reg_rdata = P_CT_WORDS;
        REG_RES_WORDS: reg_rdata = P_RES_WORDS;
        REG_OUT_WORDS: reg_rdata = P_OUT_WORDS;
        default:       reg_rdata = 32'd0;
      endcase
    end
  end

  reg [STW-1:0] out_wide;
  always @(*) begin
    out_wide         = {STW{1'b0}};
    out_wide[OW-1:0] = out_rdata;
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rstate_q    <= R_IDLE;
      rvalid_q    <= 1'b0;
      rdata_q     <= 32'd0;
      rlane_q     <= {(LSHIFT + 1){1'b0}};
      out_raddr_q <= {OAW{1'b0}};
    end else begin
      case (rstate_q)
        R_IDLE: begin
          if (s_axil_arvalid && !rvalid_q) begin
            if (r_region == WIN_OUTPUT) begin
              out_raddr_q <= r_word[OAW-1:0];
              rlane_q     <= r_lane[LSHIFT:0];
              rstate_q    <= R_WAIT1;
            end else begin
              rdata_q  <= reg_rdata;
              rvalid_q <= 1'b1;
            end
          end else if (rvalid_q && s_axil_rready) begin
            rvalid_q <= 1'b0;
          end
        end
        R_WAIT1: rstate_q <= R_WAIT2;  // the memory samples out_raddr_q
        default: begin                 // R_WAIT2: its word is on out_rdata
          rdata_q  <= out_wide[rlane_q*32 +: 32];
          rvalid_q <= 1'b1;
          rstate_q <= R_IDLE;
        end
      endcase
    end
  end

endmodule
