#pragma once
/// Builds an ELF file's UnwindTable from its .eh_frame (else .debug_frame) with elfutils' CFI reader.

#include <string>

#include "common/result.h"
#include "unwind/unwind_table.h"

namespace scorch {

/// Reads path's call frame information into rows; the error says "build unwind table for <path>" and
/// why (cannot open, not an x86-64 ELF file, no .eh_frame or .debug_frame, ...).
Result<UnwindTable> build_unwind_table(const std::string& path);

/// The same from an open fd (not taken over; it may be closed afterwards); name is used in errors.
Result<UnwindTable> build_unwind_table_fd(int fd, const std::string& name);

}  // namespace scorch
