// Memory-driven wrapper for rtl/pool.v (sim/test_pool.py, t2c.sim.units.pool).
//
// D_FILE holds NJOBS descriptors (plus a guard word), one pooling job each, packed MSB first
//   {avg, in_signed, per_window (1 bit each), c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw
//    (DIMW bits each), x_base, p_base (32 bits each), zx (IN_BITS + 1), zy, qmin, qmax
//    (OUT_BITS + 1 each)}
// with qmax in the lowest bits (two's complement fields).  X_FILE holds NX input codes
// (IN_BITS bits: every job's maps at its x_base), P_FILE NP table entries {m, s}
// (MULT_BITS + SHIFT_BITS bits, s in the lowest bits), each plus a guard word.  Both are
// the unit's two read ports: a tb_image each, registered (data the cycle after the enable).
// Job k + 1 starts (start_i for one cycle, its descriptor registered with it) in the first
// cycle in which the unit is not busy after job k's start; tb_harness's bubbles (GAPS != 0)
// are the unit's stall_i.  Every output window is stored in order with its last_o flag and
// written to Y_FILE (OUT_BITS + 1 bits) and L_FILE, then `done` rises and `cycles` holds the
// cycle count.  (Clock and reset: tb_harness; images and dumps: tb_image, tb_dump.)
module tb_pool #(
  parameter integer IN_BITS    = 8,
  parameter integer OUT_BITS   = 8,
  parameter integer ACCW       = 32,
  parameter integer MULT_BITS  = 32,
  parameter integer SHIFT_BITS = 6,
  parameter integer DIMW       = 16,
  parameter integer NJOBS      = 1,
  parameter integer NX         = 1,
  parameter integer NP         = 1,
  parameter integer NOUT       = 1,
  parameter integer GAPS       = 0,
  parameter integer GAP_SEED   = 1,
  parameter         D_FILE     = "",
  parameter         X_FILE     = "",
  parameter         P_FILE     = "",
  parameter         Y_FILE     = "",
  parameter         L_FILE     = ""
) ();

  localparam integer AW  = 32;
  localparam integer XW  = IN_BITS + 1;
  localparam integer QW  = OUT_BITS + 1;
  localparam integer PEW = MULT_BITS + SHIFT_BITS;
  localparam integer DSW = 3 + 13 * DIMW + 2 * AW + XW + 3 * QW;

  wire        clk, rst_n, gap, finish, done;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [31:0] cyc, cycles;  // cycles (with done): read by t2c.sim.cocotb_side
  /* verilator lint_on UNUSEDSIGNAL */
  tb_harness #(.GAPS(GAPS), .GAP_SEED(GAP_SEED)) u_harness (
    .clk_o(clk), .rst_no(rst_n), .cyc_o(cyc), .gap_o(gap),
    .finish_i(finish), .done_o(done), .cycles_o(cycles)
  );

  // ---------------------------------------------------------------- jobs
  wire [DSW-1:0] d_rd;
  reg  [31:0]    job_q;
  reg            start_q;
  reg  [DSW-1:0] d_q;
  wire           busy;
  tb_image #(.WIDTH(DSW), .WORDS(NJOBS), .FILE(D_FILE)) u_d (.addr_i(job_q), .rd_o(d_rd));
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      job_q   <= 32'd0;
      start_q <= 1'b0;
      d_q     <= {DSW{1'b0}};
    end else begin
      start_q <= 1'b0;
      if (!start_q && !busy && (job_q < NJOBS)) begin
        start_q <= 1'b1;
        d_q     <= d_rd;
        job_q   <= job_q + 32'd1;
      end
    end
  end

  wire            avg, in_signed, per_window;
  wire [DIMW-1:0] c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw;
  wire [AW-1:0]   x_base, p_base;
  wire [XW-1:0]   zx;
  wire [QW-1:0]   zy, qmin, qmax;
  assign {avg, in_signed, per_window, c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw,
          x_base, p_base, zx, zy, qmin, qmax} = d_q;

  // ---------------------------------------------------------------- read ports
  wire              rd_en, p_en;
  wire [AW-1:0]     rd_addr, p_addr;
  wire [IN_BITS-1:0] x_rd;
  wire [PEW-1:0]    p_rd;
  reg  [IN_BITS-1:0] x_q;
  reg  [PEW-1:0]    p_q;
  tb_image #(.WIDTH(IN_BITS), .WORDS(NX), .FILE(X_FILE)) u_x (.addr_i(rd_addr), .rd_o(x_rd));
  tb_image #(.WIDTH(PEW), .WORDS(NP), .FILE(P_FILE)) u_p (.addr_i(p_addr), .rd_o(p_rd));
  always @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      x_q <= {IN_BITS{1'b0}};
      p_q <= {PEW{1'b0}};
    end else begin
      if (rd_en) begin
        x_q <= x_rd;
      end
      if (p_en) begin
        p_q <= p_rd;
      end
    end
  end

  wire          valid_o, last_o;
  wire [QW-1:0] y;
  pool #(
    .IN_BITS(IN_BITS), .OUT_BITS(OUT_BITS), .ACCW(ACCW), .MULT_BITS(MULT_BITS),
    .SHIFT_BITS(SHIFT_BITS), .DIMW(DIMW), .AW(AW)
  ) u_dut (
    .clk_i(clk), .rst_ni(rst_n), .start_i(start_q), .avg_i(avg), .in_signed_i(in_signed),
    .per_window_i(per_window), .c_i(c), .h_i(h), .w_i(w), .ho_i(ho), .wo_i(wo), .kh_i(kh),
    .kw_i(kw), .sh_i(sh), .sw_i(sw), .ph_i(ph), .pw_i(pw), .dh_i(dh), .dw_i(dw),
    .x_base_i(x_base), .p_base_i(p_base), .zx_i(zx), .zy_i(zy), .qmin_i(qmin), .qmax_i(qmax),
    .busy_o(busy), .stall_i(gap), .rd_en_o(rd_en), .rd_addr_o(rd_addr), .rd_data_i(x_q),
    .p_en_o(p_en), .p_addr_o(p_addr), .m_i(p_q[PEW-1 -: MULT_BITS]), .s_i(p_q[SHIFT_BITS-1:0]),
    .valid_o(valid_o), .last_o(last_o), .y_o(y)
  );

  // ---------------------------------------------------------------- capture
  wire y_full, l_full;
  tb_dump #(.WIDTH(QW), .NVEC(NOUT), .FILE(Y_FILE)) u_y (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(y), .done_i(done), .full_o(y_full)
  );
  tb_dump #(.WIDTH(1), .NVEC(NOUT), .FILE(L_FILE)) u_l (
    .clk_i(clk), .rst_ni(rst_n), .valid_i(valid_o), .data_i(last_o), .done_i(done),
    .full_o(l_full)
  );
  assign finish = y_full && l_full;

endmodule
