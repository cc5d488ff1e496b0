#pragma once
#include <hdf5.h>
// HDF5 exposes these only as macros (H5T_NATIVE_FLOAT expands to a call plus a global, H5P_DEFAULT to a cast),
// which Swift cannot import. Each function returns exactly what the macro yields.
hid_t hs_h5t_native_float(void);
hid_t hs_h5t_native_double(void);
hid_t hs_h5t_native_int32(void);
hid_t hs_h5t_native_uint8(void);
hid_t hs_h5t_c_s1(void);
hid_t hs_h5p_default(void);
hid_t hs_h5s_all(void);
hid_t hs_h5p_file_access(void);
hid_t hs_h5p_dataset_create(void);
hsize_t hs_h5s_unlimited(void);
// Turns off HDF5's automatic printing of its error stack: headstart reports errors itself.
void hs_h5_silence_errors(void);
