// Shared testbench harness for the memory-driven wrappers in sim/hdl/:
// clock, reset, a free-running cycle counter and an optional bubble pattern.
//
// The clock is generated here (not by cocotb): the wrappers run free and the
// cocotb test awaits `done` once, which is 20-40x faster than a Python
// callback per cycle (docs/testbench.md).  Needs Verilator --timing.
//
//   clk_o    period 2*HALF_PERIOD time units (10 ns with timescale 1ns/1ps)
//   rst_no   low for the first 3 clock cycles, released on a falling edge
//   cyc_o    cycles since reset release (0 in the first cycle after it)
//   gap_o    when GAPS != 0: high in about 1 cycle of 4 (16-bit LFSR seeded by
//            GAP_SEED), for the wrapper to insert valid_i bubbles; else 0
//   done_o   rises the cycle after the first cycle with finish_i high (the wrapper
//            raises finish_i once every output is stored and $writememh'd) and stays
//   cycles_o cyc_o of that cycle: the run's length in cycles
// The wrapper exposes done_o and cycles_o as `done` and `cycles`, which the cocotb
// side awaits and reads (t2c.sim.cocotb_side).  FINISH != 0, for a run without cocotb
// (FuseSoC's sim target): the cycle after done_o rises it prints
// "t2c tb: done after <cycles> cycles" and calls $finish.
module tb_harness #(
  parameter integer HALF_PERIOD = 5,
  parameter integer GAPS        = 0,
  parameter integer GAP_SEED    = 1,
  parameter integer FINISH      = 0
) (
  output wire        clk_o,
  output wire        rst_no,
  output wire [31:0] cyc_o,
  output wire        gap_o,
  input  wire        finish_i,
  output wire        done_o,
  output wire [31:0] cycles_o
);

  reg clk_q;
  initial begin
    clk_q = 1'b0;
    forever #(HALF_PERIOD) clk_q = ~clk_q;
  end
  assign clk_o = clk_q;

  reg rst_nq;
  initial begin
    rst_nq = 1'b0;
    repeat (3) @(negedge clk_q);
    rst_nq = 1'b1;
  end
  assign rst_no = rst_nq;

  reg [31:0] cyc_q;
  always @(posedge clk_q or negedge rst_nq) begin
    if (!rst_nq) begin
      cyc_q <= 32'd0;
    end else begin
      cyc_q <= cyc_q + 32'd1;
    end
  end
  assign cyc_o = cyc_q;

  // x^16 + x^14 + x^13 + x^11 + 1 (maximal length); never seeded with 0.
  localparam integer SEED_I = (GAP_SEED % 65535) + 1;
  localparam [15:0]  SEED   = SEED_I[15:0];
  reg [15:0] lfsr_q;
  always @(posedge clk_q or negedge rst_nq) begin
    if (!rst_nq) begin
      lfsr_q <= SEED;
    end else begin
      lfsr_q <= {lfsr_q[14:0], lfsr_q[15] ^ lfsr_q[13] ^ lfsr_q[12] ^ lfsr_q[10]};
    end
  end
  assign gap_o = (GAPS != 0) && (lfsr_q[1:0] == 2'b00);

  reg        done_q;
  reg [31:0] cycles_q;
  always @(posedge clk_q or negedge rst_nq) begin
    if (!rst_nq) begin
      done_q   <= 1'b0;
      cycles_q <= 32'd0;
    end else if (finish_i && !done_q) begin
      done_q   <= 1'b1;
      cycles_q <= cyc_q;
    end
  end
  assign done_o   = done_q;
  assign cycles_o = cycles_q;

  always @(posedge clk_q) begin
    if (FINISH != 0 && done_q) begin
      $display("t2c tb: done after %0d cycles", cycles_q);
      $finish;
    end
  end

endmodule
