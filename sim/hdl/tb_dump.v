// Output side of the memory-driven wrappers: stores NVEC result vectors of LANES
// words of WIDTH bits, in order, one with every valid_i (word l of data_i,
// data_i[l*WIDTH +: WIDTH], at index vector*LANES + l); full_o rises once all NVEC
// are stored (the wrapper's `finish`, ANDed over its tb_dumps).  In the cycle in
// which tb_harness sees finish and has not raised done yet (done_i low), the memory
// is written to FILE (an absolute path) with $writememh, once; the cocotb test reads
// it back with t2c.sim.images.read_values after `done`.
module tb_dump #(
  parameter integer WIDTH = 8,
  parameter integer LANES = 1,
  parameter integer NVEC  = 1,
  parameter         FILE  = ""
) (
  input  wire                   clk_i,
  input  wire                   rst_ni,
  input  wire                   valid_i,
  input  wire [LANES*WIDTH-1:0] data_i,
  input  wire                   done_i,
  output wire                   full_o
);

  reg [WIDTH-1:0] mem [0:NVEC*LANES-1];
  reg [31:0]      n;  // vectors stored
  integer l;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      n <= 32'd0;
    end else if (valid_i) begin
      for (l = 0; l < LANES; l = l + 1) begin
        mem[n*LANES + l] <= data_i[l*WIDTH +: WIDTH];
      end
      n <= n + 32'd1;
    end
  end

  assign full_o = (n == NVEC);
  always @(posedge clk_i) begin
    if (full_o && !done_i) begin
      $writememh(FILE, mem);
    end
  end

endmodule
