// Reads an extended XYZ file and prints neighbour statistics of each frame, through the public
// nepcg C++ API only.   usage: neighbor_stats FILE [CUTOFF_ANGSTROM]
#include <cstdlib>
#include <iostream>

#include <nepcg/error.hpp>
#include <nepcg/extxyz.hpp>
#include <nepcg/neighbor_list.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: neighbor_stats FILE [CUTOFF]\n";
    return 2;
  }
  const double cutoff = argc > 2 ? std::atof(argv[2]) : 5.0;
  try {
    nepcg::ExtxyzReader reader(argv[1]);
    nepcg::System frame;
    while (reader.next(frame)) {
      nepcg::NeighborList list(cutoff);
      list.build(frame.box, frame.positions);
      std::cout << "atoms " << frame.size() << " pairs " << list.num_pairs() << " max_neighbors "
                << list.max_neighbors() << "\n";
    }
  } catch (const nepcg::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
