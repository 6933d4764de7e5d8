// Integer LayerNorm over rows of n codes, exactly t2c.arith.layernorm_int
// (docs/arithmetic.md, "Transformer ops"; docs/vit_rtl.md, section "layernorm"):
//
//   d = n * x - sum(x)                      (= n*xc - sum(xc): the zero point cancels)
//   r = max(isqrt(sum(d * d) + eps), 1)
//   y = clip(div_round(d * g[c] + o[c] * r, r << G) + zy, qmin, qmax)
//
// The division is done as (G = shift_i)  L = qmin - zy,  o' = o - (L << G),
//   t = floor((2 * (d * g + o' * r) + (r << G)) / 2^(G+1))      (arithmetic shift)
//   y = qmin                          when t < 0
//       qmax                          when t >= r << OUT_BITS
//       qmin + min(floor(t / r), qmax - qmin)   otherwise (OUT_BITS restoring steps)
// which equals the formula above for every input: div_round(a, D) = floor((2a + D) / 2D)
// and floor(floor(a / 2^(G+1)) / r) = floor(a / (r 2^(G+1))) for r > 0 (floor also for
// negative a), and subtracting L * r before dividing by r subtracts exactly L from the
// quotient; qmax - qmin < 2^OUT_BITS, so a quotient >= 2^OUT_BITS always clips to qmax.
//
// Row-serial, one row at a time (the row is buffered: three passes over it):
//   LOAD  n cycles     accept x with its channel's gain and offset (ready_o high),
//                      store them (x in offset binary), S = sum
//   SQ    n + 1        read x back, d = n*u - S, ssq += d*d
//   SQRT  1 + RW       digit-by-digit restoring square root of ssq + eps, one bit per cycle
//   OUT   2 + n*(OUT_BITS+1)  per element: start rtl/divider.v (1 cycle: t, r and the
//                      class of t), OUT_BITS restoring steps, the quotient taken in the
//                      last; the next element is read and its products formed meanwhile
// so a row takes n*(OUT_BITS+3) + RW + 4 cycles (n = 48, defaults: 553).  y_o is valid
// the cycle after an element's last divider step; the next row's LOAD starts in that
// same cycle (docs/vit_rtl.md, "layernorm": timing).
//
// Widths (B = IN_BITS, NB = ceil(log2 MAX_N), so n - 1 < 2^NB; Gm = MAX_SHIFT):
//   |d| = |sum_j (u_i - u_j)| <= (n-1)(2^B - 1) < 2^(B+NB)      DW  = B + NB + 1 (signed)
//   sum d*d <= n * max d^2 < 2^NB * 2^(2(B+NB))                 SSW = 2B + 3NB
//   radicand ssq + eps < 2^SSW + 2^EPS_BITS <= 2^(max(SSW, EPS_BITS) + 1)
//   r < 2^RW,  RW = ceil((max(SSW, EPS_BITS) + 1) / 2)   (n <= 256, B = 8: SSW = 40,
//            RW = 21; the isqrt argument needs 41 bits, more than 32)
//   r >= |d_i| (isqrt is monotone and d_i^2 <= sum d*d), r >= 1
//   d * g: P1W = DW + GAIN_BITS;  L = qmin - zy: YW = OUT_BITS + 2;
//   o' = o - (L << G): OPW = max(OFF_BITS, YW + Gm) + 1;  o' * r: P2W = OPW + RW + 1
//   2 * (d g + o' r) + (r << G): NUMW = max(max(P1W, P2W) + 2, RW + Gm + 1) + 1 bits
//   (also >= RW + OUT_BITS + 1 to hold r << OUT_BITS); t and the divider remainder < r
//   need no more.  Every sum above is formed at a width that cannot overflow.
// gain_i and offset_i are signed GAIN_BITS / OFF_BITS, shift_i (G) 0 .. MAX_SHIFT (>= 1),
// eps_i unsigned EPS_BITS; zy_i, qmin_i, qmax_i are signed OUT_BITS + 1 (they hold
// every int and uint OUT_BITS code) with qmin <= qmax and qmax - qmin < 2^OUT_BITS.
// t2c/sim/units/layernorm.py (check_fits) refuses a layer that does not fit these widths.
//
// Interface: x_i, gain_i, offset_i form one element (transferred when valid_i && ready_o);
// the caller streams each element's per-channel gain and offset with it (channel c =
// position in the row), as the requantizer takes its per-lane parameters, so layers
// with other tables or shifts need no rebuild.  n_i, shift_i, eps_i, zy_i, qmin_i and
// qmax_i are sampled with a row's first element; n must be 1 .. MAX_N.  No back-pressure
// on the output: y_o is valid for one cycle with valid_o, last_o marks a row's last
// element, and r_o holds the row's root r while its outputs come out (for tests).
// Submodules: rtl/row_buffer.v (the row), rtl/row_counter.v (row length, buffer
// addresses), rtl/divider.v (DIVISOR_BITS = RW, QUOTIENT_BITS = OUT_BITS).
module layernorm #(
  parameter integer IN_BITS    = 8,
  parameter integer IN_SIGNED  = 1,
  parameter integer OUT_BITS   = 8,
  parameter integer MAX_N      = 256,
  parameter integer GAIN_BITS  = 16,
  parameter integer OFF_BITS   = 32,
  parameter integer MAX_SHIFT  = 30,
  parameter integer EPS_BITS   = 32,
  // derived, do not override: width of r (RW below)
  parameter integer RW_P = (((2 * IN_BITS + 3 * ((MAX_N > 1) ? $clog2(MAX_N) : 1)) > EPS_BITS
                             ? (2 * IN_BITS + 3 * ((MAX_N > 1) ? $clog2(MAX_N) : 1))
                             : EPS_BITS) + 2) / 2
) (
  input  wire                                         clk_i,
  input  wire                                         rst_ni,
  input  wire [$clog2(MAX_N+1)-1:0]                   n_i,
  input  wire [$clog2(MAX_SHIFT+1)-1:0]               shift_i,
  input  wire [EPS_BITS-1:0]                          eps_i,
  input  wire signed [OUT_BITS:0]                     zy_i,
  input  wire signed [OUT_BITS:0]                     qmin_i,
  input  wire signed [OUT_BITS:0]                     qmax_i,
  input  wire                                         valid_i,
  output wire                                         ready_o,
  input  wire [IN_BITS-1:0]                           x_i,
  input  wire signed [GAIN_BITS-1:0]                  gain_i,
  input  wire signed [OFF_BITS-1:0]                   offset_i,
  output wire                                         valid_o,
  output wire                                         last_o,
  output wire [OUT_BITS-1:0]                          y_o,
  output wire [RW_P-1:0]                              r_o
);

  // ---------------------------------------------------------------- widths
  localparam integer SHW   = $clog2(MAX_SHIFT + 1);               // shift_i: G
  localparam integer W     = OUT_BITS;                            // divider steps
  localparam integer NW    = $clog2(MAX_N + 1);                   // holds 0 .. MAX_N
  localparam integer NB    = (MAX_N > 1) ? $clog2(MAX_N) : 1;     // n - 1 < 2^NB
  localparam integer SW    = IN_BITS + NW;                        // S = sum u <= n (2^B - 1)
  localparam integer DW    = IN_BITS + NB + 1;                    // d, signed
  localparam integer SQW   = 2 * (IN_BITS + NB);                  // d * d, unsigned
  localparam integer SSW   = 2 * IN_BITS + 3 * NB;                // sum d * d
  localparam integer RW    = RW_P;   // ceil((max(SSW, EPS_BITS) + 1) / 2): r < 2^RW
  localparam integer RADP  = 2 * RW;                              // radicand, padded
  localparam integer YW    = OUT_BITS + 2;                        // L = qmin - zy, y, signed
  localparam integer LGW   = YW + MAX_SHIFT;                      // L << G
  localparam integer OPW   = ((OFF_BITS > LGW) ? OFF_BITS : LGW) + 1;  // o', signed
  localparam integer P1W   = DW + GAIN_BITS;                      // d * g
  localparam integer P2W   = OPW + RW + 1;                        // o' * r
  localparam integer N0W   = ((P1W > P2W) ? P1W : P2W) + 1;       // d g + o' r
  localparam integer NA    = N0W + 1;                             // 2 (d g + o' r)
  localparam integer NBW   = RW + MAX_SHIFT + 1;                  // r << G, as signed
  localparam integer NC    = ((NA > NBW) ? NA : NBW) + 1;
  localparam integer NUMW  = ((NC > RW + W + 1) ? NC : RW + W + 1);  // also holds r << W
  localparam integer FLIP_I = (IN_SIGNED != 0) ? (1 << (IN_BITS - 1)) : 0;
  localparam integer KW    = (RW > 1) ? $clog2(RW) : 1;           // square-root steps
  localparam integer RWL   = RW - 1;

  localparam [2:0] S_LOAD = 3'd0, S_SQ = 3'd1, S_SQRT_START = 3'd2, S_SQRT = 3'd3,
                   S_PRE0 = 3'd4, S_PRE1 = 3'd5, S_DIV = 3'd6;
  localparam [1:0] T_DIVIDE = 2'd0, T_NEG = 2'd1, T_BIG = 2'd2;   // class of t

  wire [IN_BITS-1:0] flip = FLIP_I[IN_BITS-1:0];
  wire [KW-1:0]      sqrt_last_step = RWL[KW-1:0];

  // ---------------------------------------------------------------- state
  reg [2:0]                state_q, state_d;
  reg [EPS_BITS-1:0]       eps_q, eps_d;
  reg [SHW-1:0]            shift_q, shift_d;   // G of the row
  reg signed [OUT_BITS:0]  zy_q, zy_d;
  reg signed [OUT_BITS:0]  qmin_q, qmin_d;
  reg signed [OUT_BITS:0]  qmax_q, qmax_d;
  reg [SW-1:0]             sum_q, sum_d;       // S = sum u
  reg [SSW-1:0]            ssq_q, ssq_d;       // sum d * d
  reg                      sq_valid_q, sq_valid_d;  // SQ: ur holds an element
  reg [RADP-1:0]           rad_q, rad_d;       // radicand bits still to shift in (top first)
  reg [RW-1:0]             srem_q, srem_d;     // square-root remainder (< 2^RW before each step)
  reg [RW-1:0]             root_q, root_d;     // square root so far
  reg [KW-1:0]             sqrt_step_q, sqrt_step_d;
  reg [RW-1:0]             r_q, r_d;           // max(isqrt(.), 1) of the row being output
  reg signed [P1W-1:0]     p1_q, p1_d;         // d * g of the next element to divide
  reg signed [P2W-1:0]     p2_q, p2_d;         // o' * r of it
  reg [1:0]                tclass_q, tclass_d; // class of the t being divided
  reg                      valid_q, valid_d;
  reg                      last_q, last_d;
  reg [OUT_BITS-1:0]       y_q, y_d;

  // ---------------------------------------------------------------- row counters
  // rtl/row_counter.v: LOAD takes the row, SQ reads it, PRE0 and each division start read
  // the next element (the index is cleared after SQRT and at the row's end); the
  // results of SQ (d*d) and of DIV (y) count the elements done.
  /* verilator lint_off UNUSEDSIGNAL */
  wire [NW-1:0] row_idx;       // buffer address: the low NB bits
  wire [NW-1:0] row_res_idx;   // only the ends of the passes matter:
  wire          row_rd_last;   // row_res_last
  /* verilator lint_on UNUSEDSIGNAL */
  wire [NW-1:0] row_n;
  wire          accept, row_first, row_loaded, row_rd, row_res_last;
  wire          div_busy, div_done;
  wire          loading   = (state_q == S_LOAD);
  wire          div_start = (state_q == S_DIV) && !div_busy;   // one per element
  wire          sqrt_done = (state_q == S_SQRT) && (sqrt_step_q == sqrt_last_step);
  wire          reading   = (state_q == S_SQ) || (state_q == S_PRE0) || div_start;
  wire          row_clear = sqrt_done || (div_done && row_res_last);
  assign ready_o = loading;
  row_counter #(.MAX_N(MAX_N)) u_row (
    .clk_i(clk_i), .rst_ni(rst_ni), .load_i(loading), .valid_i(valid_i),
    .n_i(n_i), .accept_o(accept), .first_o(row_first), .last_o(row_loaded), .n_o(row_n),
    .idx_o(row_idx), .rd_i(reading), .clear_i(row_clear), .rd_o(row_rd),
    .rd_last_o(row_rd_last), .res_i(sq_valid_q || div_done), .res_last_o(row_res_last),
    .res_idx_o(row_res_idx)
  );

  reg [IN_BITS-1:0] u_in;   // x in offset binary
  always @(*) begin
    u_in = x_i ^ flip;
  end

  // ---------------------------------------------------------------- row buffer
  // x, gain, offset written in LOAD; read (registered) in SQ and OUT (rtl/row_buffer.v)
  wire [IN_BITS-1:0]          ur;
  wire signed [GAIN_BITS-1:0] gr;
  wire signed [OFF_BITS-1:0]  offr;
  row_buffer #(.WIDTH(IN_BITS + GAIN_BITS + OFF_BITS), .AW(NB)) u_buf (
    .clk_i(clk_i), .rst_ni(rst_ni), .we_i(accept), .wa_i(row_idx[NB-1:0]),
    .wd_i({u_in, gain_i, offset_i}), .re_i(row_rd), .ra_i(row_idx[NB-1:0]),
    .rd_o({ur, gr, offr})
  );

  // d = n * u - S  (|d| < 2^(B+NB): the low DW bits of the SW+1-bit difference)
  /* verilator lint_off UNUSEDSIGNAL */
  reg [SW:0]          dfull;   // top bits are sign copies
  /* verilator lint_on UNUSEDSIGNAL */
  reg [SW:0]          nu;
  reg signed [DW-1:0] d;
  reg [SQW-1:0]       dsq;
  reg [DW-2:0]        dabs;
  always @(*) begin
    nu    = {{(SW+1-NW){1'b0}}, row_n} * {{(SW+1-IN_BITS){1'b0}}, ur};
    dfull = nu - {1'b0, sum_q};
    d     = dfull[DW-1:0];
    dabs  = d[DW-1] ? (~d[DW-2:0] + 1'b1) : d[DW-2:0];
    dsq   = {{(SQW-DW+1){1'b0}}, dabs} * {{(SQW-DW+1){1'b0}}, dabs};
  end

  // square root step: rem = 4 rem + next two bits; subtract 4 root + 1 when it fits
  reg [RW+1:0] strial, ssub;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [RW+1:0] snext;   // < 2^RW whenever another step follows
  /* verilator lint_on UNUSEDSIGNAL */
  reg          sge;
  reg [RW-1:0] rnext;
  always @(*) begin
    strial = {srem_q, rad_q[RADP-1:RADP-2]};
    ssub   = {root_q, 2'b01};
    sge    = (strial >= ssub);
    snext  = sge ? (strial - ssub) : strial;
    rnext  = {root_q[RW-2:0], sge};
  end

  // ---------------------------------------------------------------- products
  // o' = o - ((qmin - zy) << G); p1 = d * g; p2 = o' * r (registered, one element ahead)
  reg signed [YW-1:0]  lq;
  reg signed [OPW-1:0] oprime;
  reg signed [P1W-1:0] p1;
  reg signed [P2W-1:0] p2;
  always @(*) begin
    lq     = {qmin_q[OUT_BITS], qmin_q} - {zy_q[OUT_BITS], zy_q};
    oprime = {{(OPW-OFF_BITS){offr[OFF_BITS-1]}}, offr}
           - ({{(OPW-YW){lq[YW-1]}}, lq} << shift_q);
    p1     = {{(P1W-DW){d[DW-1]}}, d} * {{(P1W-GAIN_BITS){gr[GAIN_BITS-1]}}, gr};
    p2     = {{(P2W-OPW){oprime[OPW-1]}}, oprime} * {{(P2W-RW){1'b0}}, r_q};
  end

  // t = (2 (p1 + p2) + (r << G)) >>> (G + 1); classify against 0 and r << W
  /* verilator lint_off UNUSEDSIGNAL */
  reg signed [NUMW-1:0] tnum, tg, t;   // t: top G+1 bits are sign copies
  /* verilator lint_on UNUSEDSIGNAL */
  reg [NUMW-1:0]        rw_lim;
  reg                   t_neg, t_big;
  always @(*) begin
    tnum   = (({{(NUMW-P1W){p1_q[P1W-1]}}, p1_q} + {{(NUMW-P2W){p2_q[P2W-1]}}, p2_q}) <<< 1)
           + ({{(NUMW-RW){1'b0}}, r_q} << shift_q);
    tg     = tnum >>> shift_q;
    t      = tg >>> 1;
    rw_lim = {{(NUMW-RW-W){1'b0}}, r_q, {W{1'b0}}};
    t_neg  = t[NUMW-1];
    t_big  = !t_neg && (t >= $signed(rw_lim));
  end

  // ---------------------------------------------------------------- divider
  // floor(t / r) in W steps (rtl/divider.v); for t < 0 and t >= r << W (the low RW + W
  // bits then do not fit its operand range) the quotient is not used.
  wire [W-1:0]  quotient;
  /* verilator lint_off UNUSEDSIGNAL */
  wire [RW-1:0] div_rem;
  /* verilator lint_on UNUSEDSIGNAL */
  divider #(.DIVISOR_BITS(RW), .QUOTIENT_BITS(W)) u_div (
    .clk_i(clk_i), .rst_ni(rst_ni), .start_i(div_start), .dividend_i(t[RW+W-1:0]),
    .divisor_i(r_q), .busy_o(div_busy), .done_o(div_done), .quotient_o(quotient),
    .remainder_o(div_rem)
  );

  // y = qmin + min(q, qmax - qmin), or qmin / qmax for the clipped classes
  reg signed [YW-1:0] span, qy;
  /* verilator lint_off UNUSEDSIGNAL */
  reg signed [YW-1:0] ysel;   // in qmin .. qmax: the low OUT_BITS bits are the code
  /* verilator lint_on UNUSEDSIGNAL */
  always @(*) begin
    span = {qmax_q[OUT_BITS], qmax_q} - {qmin_q[OUT_BITS], qmin_q};
    qy   = {2'b00, quotient};
    if (tclass_q == T_NEG) begin
      ysel = {qmin_q[OUT_BITS], qmin_q};
    end else if ((tclass_q == T_BIG) || (qy > span)) begin
      ysel = {qmax_q[OUT_BITS], qmax_q};
    end else begin
      ysel = {qmin_q[OUT_BITS], qmin_q} + qy;
    end
  end

  // ---------------------------------------------------------------- next state
  always @(*) begin
    state_d     = state_q;
    eps_d       = eps_q;
    shift_d     = shift_q;
    zy_d        = zy_q;
    qmin_d      = qmin_q;
    qmax_d      = qmax_q;
    sum_d       = sum_q;
    ssq_d       = ssq_q;
    sq_valid_d  = row_rd && (state_q == S_SQ);
    rad_d       = rad_q;
    srem_d      = srem_q;
    root_d      = root_q;
    sqrt_step_d = sqrt_step_q;
    r_d         = r_q;
    p1_d        = p1_q;
    p2_d        = p2_q;
    tclass_d    = tclass_q;
    valid_d     = div_done;
    last_d      = div_done && row_res_last;
    y_d         = div_done ? ysel[OUT_BITS-1:0] : y_q;
    case (state_q)
      S_LOAD: begin            // take x, g, o; S = sum u; sample the descriptors
        if (row_first) begin
          eps_d   = eps_i;
          shift_d = shift_i;
          zy_d    = zy_i;
          qmin_d  = qmin_i;
          qmax_d  = qmax_i;
          sum_d   = {{(SW-IN_BITS){1'b0}}, u_in};
        end else if (accept) begin
          sum_d   = sum_q + {{(SW-IN_BITS){1'b0}}, u_in};
        end
        if (row_loaded) begin
          ssq_d   = {SSW{1'b0}};
          state_d = S_SQ;
        end
      end
      S_SQ: begin              // ssq += d * d, one element per cycle
        if (sq_valid_q) begin
          ssq_d = ssq_q + {{(SSW-SQW){1'b0}}, dsq};
        end
        if (row_res_last) begin
          state_d = S_SQRT_START;
        end
      end
      S_SQRT_START: begin      // radicand, top bit pair first
        rad_d       = {{(RADP-SSW){1'b0}}, ssq_q} + {{(RADP-EPS_BITS){1'b0}}, eps_q};
        srem_d      = {RW{1'b0}};
        root_d      = {RW{1'b0}};
        sqrt_step_d = {KW{1'b0}};
        state_d     = S_SQRT;
      end
      S_SQRT: begin            // RW steps, one root bit each
        srem_d = snext[RW-1:0];
        root_d = rnext;
        rad_d  = {rad_q[RADP-3:0], 2'b00};
        if (sqrt_done) begin
          r_d     = (rnext == {RW{1'b0}}) ? {{(RW-1){1'b0}}, 1'b1} : rnext;
          state_d = S_PRE0;
        end else begin
          sqrt_step_d = sqrt_step_q + 1'b1;
        end
      end
      S_PRE0: begin            // read element 0
        state_d = S_PRE1;
      end
      S_PRE1: begin            // its products
        p1_d    = p1;
        p2_d    = p2;
        state_d = S_DIV;
      end
      default: begin           // S_DIV: start (and read the next element), W steps
        if (div_start) begin
          tclass_d = t_neg ? T_NEG : (t_big ? T_BIG : T_DIVIDE);
        end
        if (div_done) begin    // y of this element; the next one's products
          p1_d = p1;
          p2_d = p2;
          if (row_res_last) begin
            state_d = S_LOAD;
          end
        end
      end
    endcase
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      state_q     <= S_LOAD;
      eps_q       <= {EPS_BITS{1'b0}};
      shift_q     <= {SHW{1'b0}};
      zy_q        <= {(OUT_BITS+1){1'b0}};
      qmin_q      <= {(OUT_BITS+1){1'b0}};
      qmax_q      <= {(OUT_BITS+1){1'b0}};
      sum_q       <= {SW{1'b0}};
      ssq_q       <= {SSW{1'b0}};
      sq_valid_q  <= 1'b0;
      rad_q       <= {RADP{1'b0}};
      srem_q      <= {RW{1'b0}};
      root_q      <= {RW{1'b0}};
      sqrt_step_q <= {KW{1'b0}};
      r_q         <= {RW{1'b0}};
      p1_q        <= {P1W{1'b0}};
      p2_q        <= {P2W{1'b0}};
      tclass_q    <= T_DIVIDE;
      valid_q     <= 1'b0;
      last_q      <= 1'b0;
      y_q         <= {OUT_BITS{1'b0}};
    end else begin
      state_q     <= state_d;
      eps_q       <= eps_d;
      shift_q     <= shift_d;
      zy_q        <= zy_d;
      qmin_q      <= qmin_d;
      qmax_q      <= qmax_d;
      sum_q       <= sum_d;
      ssq_q       <= ssq_d;
      sq_valid_q  <= sq_valid_d;
      rad_q       <= rad_d;
      srem_q      <= srem_d;
      root_q      <= root_d;
      sqrt_step_q <= sqrt_step_d;
      r_q         <= r_d;
      p1_q        <= p1_d;
      p2_q        <= p2_d;
      tclass_q    <= tclass_d;
      valid_q     <= valid_d;
      last_q      <= last_d;
      y_q         <= y_d;
    end
  end

  assign valid_o = valid_q;
  assign last_o  = last_q;
  assign y_o     = y_q;
  assign r_o     = r_q;

endmodule
