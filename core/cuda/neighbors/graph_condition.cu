// The kernel that switches the conditional node of a recorded MD step (internal to
// DeviceNeighborList::update_recorded). It calls the device runtime's cudaGraphSetConditional,
// which the driver resolves when the module loads; kept in its own translation unit so that
// nothing else depends on that symbol (the list's other kernels load without it).
#include "device_neighbor_list.cuh"

namespace nepcg::cuda {

namespace {
__global__ void set_rebuild_condition(const int* flags, cudaGraphConditionalHandle handle) {
  cudaGraphSetConditional(handle, flags[0] ? 1u : 0u);
}
}  // namespace

void launch_set_rebuild_condition(const int* flags, cudaGraphConditionalHandle handle, cudaStream_t s) {
  set_rebuild_condition<<<1, 1, 0, s>>>(flags, handle);
  NEPCG_CUDA_LAUNCHED("set_rebuild_condition");
}

}  // namespace nepcg::cuda
