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

// --- KerasH5 additions -------------------------------------------------------------------------------------
// File access flags: H5F_ACC_* expand to `(H5CHECK H5OPEN 0x0000u)`, which Swift cannot import.
unsigned hs_h5f_acc_rdonly(void);
unsigned hs_h5f_acc_trunc(void);
// H5T_VARIABLE is `((size_t)(-1))`: the size that marks a variable-length string type.
size_t hs_h5t_variable(void);
// Little-endian IEEE types, the on-disk types h5py uses for numpy float32/float64/int32.
hid_t hs_h5t_ieee_f32le(void);
hid_t hs_h5t_ieee_f64le(void);
hid_t hs_h5t_std_i32le(void);
hid_t hs_h5p_link_create(void);
// > 0 when the file starts with the HDF5 signature, 0 when not, < 0 when it cannot be read. H5Fis_hdf5 is
// deprecated from HDF5 1.12 (H5Fis_accessible replaces it), so the choice is made here at compile time.
htri_t hs_h5f_is_hdf5(const char *path);
// Writes the descriptions on HDF5's current error stack, outermost call first, joined by "; ", into
// buf (always NUL-terminated, truncated to cap bytes), then clears the stack. Returns the full length.
size_t hs_h5_error_message(char *buf, size_t cap);

// Property-list classes for objects created without timestamps (deterministic files).
hid_t hs_h5p_group_create(void);
hid_t hs_h5p_file_create(void);
