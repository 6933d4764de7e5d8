// An input image of the memory-driven wrappers: WORDS words of WIDTH bits loaded
// with $readmemh from FILE (an absolute path: simulators resolve relative paths from
// their working directory), plus the guard word t2c.sim.images.write_image appends, at index
// WORDS.  The cocotb test proves the load by reading that word through `mem`:
// t2c.sim.cocotb_side checks it as "<instance>.mem"[WORDS] (a missing or short file
// leaves x there on Icarus and 0 on Verilator).  `mem` is marked public_flat_rd so
// that cocotb still sees it in Verilator models built with --public-depth 1
// (t2c.sim.toolchain.VERILATOR_ARGS).
//
// Read port: the LANES words at addr_i*LANES .. addr_i*LANES + LANES-1 (a vector
// index), word l at rd_o[l*WIDTH +: WIDTH]; combinational (the wrapper registers it,
// e.g. with tb_feed).  Addresses past the image read x (Icarus) or 0 (Verilator).
module tb_image #(
  parameter integer WIDTH = 8,
  parameter integer WORDS = 1,
  parameter integer LANES = 1,
  parameter         FILE  = ""
) (
  input  wire [31:0]            addr_i,
  output wire [LANES*WIDTH-1:0] rd_o
);

  reg [WIDTH-1:0] mem [0:WORDS] /* verilator public_flat_rd */;  // + guard word
  initial begin
    $readmemh(FILE, mem);
  end

  genvar l;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      assign rd_o[l*WIDTH +: WIDTH] = mem[addr_i*LANES + l];
    end
  endgenerate

endmodule
