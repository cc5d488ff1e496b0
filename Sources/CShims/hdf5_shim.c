#include "hdf5_shim.h"

hid_t hs_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
hid_t hs_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
hid_t hs_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
hid_t hs_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
hid_t hs_h5t_c_s1(void) { return H5T_C_S1; }
hid_t hs_h5p_default(void) { return H5P_DEFAULT; }
hid_t hs_h5s_all(void) { return H5S_ALL; }
hid_t hs_h5p_file_access(void) { return H5P_FILE_ACCESS; }
hid_t hs_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
hsize_t hs_h5s_unlimited(void) { return H5S_UNLIMITED; }
void hs_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// --- KerasH5 additions -------------------------------------------------------------------------------------
#include <string.h>
unsigned hs_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
unsigned hs_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
size_t hs_h5t_variable(void) { return H5T_VARIABLE; }
hid_t hs_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
hid_t hs_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
hid_t hs_h5t_std_i32le(void) { return H5T_STD_I32LE; }
hid_t hs_h5p_link_create(void) { return H5P_LINK_CREATE; }
htri_t hs_h5f_is_hdf5(const char *path) {
#if H5_VERSION_GE(1, 12, 0)
    return H5Fis_accessible(path, H5P_DEFAULT);
#else
    return H5Fis_hdf5(path);
#endif
}

struct hs_error_buffer { char *buf; size_t cap; size_t len; };

static herr_t hs_collect_error(unsigned n, const H5E_error2_t *err, void *data) {
    struct hs_error_buffer *out = data;
    const char *desc = (err->desc && err->desc[0]) ? err->desc : err->func_name;
    const char *parts[2] = { n > 0 ? "; " : "", desc ? desc : "" };
    for (int p = 0; p < 2; p++) {
        size_t k = strlen(parts[p]);
        for (size_t i = 0; i < k; i++, out->len++)
            if (out->len + 1 < out->cap) out->buf[out->len] = parts[p][i];
    }
    return 0;
}

size_t hs_h5_error_message(char *buf, size_t cap) {
    struct hs_error_buffer out = { buf, cap, 0 };
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, hs_collect_error, &out);
    if (cap > 0) buf[out.len < cap ? out.len : cap - 1] = '\0';
    H5Eclear2(H5E_DEFAULT);
    return out.len;
}

hid_t hs_h5p_group_create(void) { return H5P_GROUP_CREATE; }
hid_t hs_h5p_file_create(void) { return H5P_FILE_CREATE; }
