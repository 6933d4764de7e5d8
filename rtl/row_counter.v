// Element counters of the row-serial units (rtl/softmax.v, rtl/layernorm.v), which load
// a row of n elements into a row buffer (rtl/row_buffer.v) and then make passes over it:
// the row length, the element index (buffer write / read address) and the result index.
//
//   LOAD    while load_i is high the unit takes elements: accept_o = valid_i && load_i.
//           idx_o is the offered element's position (the buffer write address);
//           first_o: an accepted element 0 (n_i is sampled into n_o then, the unit
//           samples its other descriptors); last_o: an accepted element n - 1 (n = n_i
//           for a row's first element, else n_o): idx_o returns to 0, the row is in.
//   read    rd_o = rd_i && idx_o != n_o: element idx_o is read (the buffer read
//           address) and idx_o advances; once all n are read rd_i has no effect.
//           clear_i returns idx_o to 0 (it wins over an advance; rd_o still reads):
//           needed before the next read pass and before the next LOAD.
//           rd_last_o: rd_o for element n - 1.
//   result  res_i: the pass produced the result of element res_idx_o (e.g. its buffer
//           write address) and res_idx_o advances; res_last_o: res_i for element n - 1,
//           res_idx_o returns to 0.
// n_i must be 1 .. MAX_N; accepting (LOAD) and reading are never asked for in the same
// cycle.  Every register is reset (indices to 0).
module row_counter #(
  parameter integer MAX_N = 256
) (
  input  wire                       clk_i,
  input  wire                       rst_ni,
  input  wire                       load_i,
  input  wire                       valid_i,
  input  wire [$clog2(MAX_N+1)-1:0] n_i,
  output wire                       accept_o,
  output wire                       first_o,
  output wire                       last_o,
  output wire [$clog2(MAX_N+1)-1:0] n_o,
  output wire [$clog2(MAX_N+1)-1:0] idx_o,
  input  wire                       rd_i,
  input  wire                       clear_i,
  output wire                       rd_o,
  output wire                       rd_last_o,
  input  wire                       res_i,
  output wire                       res_last_o,
  output wire [$clog2(MAX_N+1)-1:0] res_idx_o
);

  localparam integer NW = $clog2(MAX_N + 1);   // holds 0 .. MAX_N

  reg [NW-1:0] n_q, n_d;         // row length
  reg [NW-1:0] idx_q, idx_d;     // element being loaded / read
  reg [NW-1:0] res_q, res_d;     // element whose result comes next

  reg          accept, first, last, rd, rd_last, res_last;
  reg [NW-1:0] n_row;            // length of the row being loaded
  always @(*) begin
    accept   = valid_i && load_i;
    first    = accept && (idx_q == {NW{1'b0}});
    n_row    = first ? n_i : n_q;
    last     = accept && (idx_q + 1'b1 == n_row);
    rd       = rd_i && (idx_q != n_q);
    rd_last  = rd && (idx_q + 1'b1 == n_q);
    res_last = res_i && (res_q + 1'b1 == n_q);
  end

  always @(*) begin
    n_d   = first ? n_i : n_q;
    idx_d = idx_q;
    if (clear_i || last) begin
      idx_d = {NW{1'b0}};
    end else if (accept || rd) begin
      idx_d = idx_q + 1'b1;
    end
    res_d = res_q;
    if (res_last) begin
      res_d = {NW{1'b0}};
    end else if (res_i) begin
      res_d = res_q + 1'b1;
    end
  end

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      n_q   <= {NW{1'b0}};
      idx_q <= {NW{1'b0}};
      res_q <= {NW{1'b0}};
    end else begin
      n_q   <= n_d;
      idx_q <= idx_d;
      res_q <= res_d;
    end
  end

  assign accept_o   = accept;
  assign first_o    = first;
  assign last_o     = last;
  assign n_o        = n_q;
  assign idx_o      = idx_q;
  assign rd_o       = rd;
  assign rd_last_o  = rd_last;
  assign res_last_o = res_last;
  assign res_idx_o  = res_q;

endmodule
