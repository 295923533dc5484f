#include "trace_command.h"

#include "vmbh/host/trace_file.h"
#include "vmbh/host/trace_print.h"

namespace vmbh::cli {

int trace_show(const std::string& path, std::ostream& out, std::ostream& err) {
  auto reader = host::TraceReader::open(path);
  if (!reader) {
    err << "vmbh trace show: " << reader.message() << "\n";
    return 1;
  }
  const auto& header = (**reader).header();
  out << "# vmbh trace, format " << header.format_version() << ", started at unix time "
      << header.start_unix_ns() / 1000000000 << (header.description().empty() ? "" : ": ")
      << header.description() << "\n";
  host::TracePrinter printer;
  trace::TraceRecord r;
  for (;;) {
    auto more = (**reader).next(r);
    if (!more) {
      err << "vmbh trace show: " << more.message() << "\n";
      return 1;
    }
    if (!*more) return 0;
    out << printer.line(r) << "\n";
  }
}

}  // namespace vmbh::cli
