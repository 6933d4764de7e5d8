// A memory of the layer engine: DEPTH words of WIDTH bits, loaded with $readmemh
// from INIT_FILE (when not ""), one write port and PORTS synchronous read ports.
//
//   write:  we_i high at a rising edge stores wdata_i at waddr_i
//   read p: raddr_i[p*AW_P +: AW_P] sampled at a rising edge, the word is on
//           rdata_o[p*WIDTH +: WIDTH] in the next cycle (like a block RAM with its
//           output register); a read of an address being written returns the old word
//
// Several read ports model what an FPGA build replicates (one block RAM copy per read
// port, same INIT_FILE), e.g. the activation memory read by every row of the MAC array.
// INIT_FILE must be an absolute path (simulators resolve relative paths from their
// working directory) in t2c's memory image format (t2c/export/engine.py).
module engine_mem #(
  parameter integer WIDTH     = 8,
  parameter integer DEPTH     = 2,
  parameter integer PORTS     = 1,
  parameter         INIT_FILE = "",
  // Address width; derived, do not override.
  parameter integer AW_P      = (DEPTH > 1) ? $clog2(DEPTH) : 1
) (
  input  wire                   clk_i,
  input  wire                   rst_ni,
  input  wire                   we_i,
  input  wire [AW_P-1:0]        waddr_i,
  input  wire [WIDTH-1:0]       wdata_i,
  input  wire [PORTS*AW_P-1:0]  raddr_i,
  output wire [PORTS*WIDTH-1:0] rdata_o
);

  reg [WIDTH-1:0] mem [0:DEPTH-1] /* verilator public_flat_rd */;  // testbenches read it
  initial begin
    if (INIT_FILE != "") begin
      $readmemh(INIT_FILE, mem);
    end
  end

  always @(posedge clk_i) begin
    if (we_i) begin
      mem[waddr_i] <= wdata_i;
    end
  end

  reg [PORTS*WIDTH-1:0] rdata_q;
  integer p;
  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rdata_q <= {(PORTS*WIDTH){1'b0}};
    end else begin
      for (p = 0; p < PORTS; p = p + 1) begin
        rdata_q[p*WIDTH +: WIDTH] <= mem[raddr_i[p*AW_P +: AW_P]];
      end
    end
  end
  assign rdata_o = rdata_q;

endmodule
