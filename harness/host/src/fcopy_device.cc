#include "vmbh/host/fcopy_device.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "vmbh/host/class_ids.h"

namespace vmbh::host {

struct FcopyDevice::Transfer {
  std::string file_name;
  proto::Bytes bytes;
  std::uint64_t offset = 0;
  DoneStatus done;
};

DeviceIdentity FcopyDevice::identity_for(FcopyGuest guest) {
  return {"fcopy", class_ids::fcopy(),
          guest == FcopyGuest::uio_daemon ? class_ids::fcopy_uio_instance() : class_ids::fcopy()};
}

IcDeviceOptions FcopyDevice::ic_options_for(const FcopyOptions& options) {
  IcDeviceOptions o;
  o.framework_versions =
      options.framework_versions.empty() ? default_ic_framework_versions() : options.framework_versions;
  o.message_versions = options.message_versions;
  if (o.message_versions.empty()) {
    o.message_versions = {proto::kLinuxFcopyVersions.begin(), proto::kLinuxFcopyVersions.end()};
  }
  o.negotiate_timeout = options.negotiate_timeout;
  o.serialize = true;
  o.match = options.guest == FcopyGuest::uio_daemon ? ReplyMatch::in_order : ReplyMatch::trans_id;
  return o;
}

FcopyDevice::FcopyDevice(const FcopyOptions& options) : FcopyDevice(options, identity_for(options.guest)) {}

FcopyDevice::FcopyDevice(FcopyOptions options, DeviceIdentity identity)
    : IcDevice(std::move(identity), proto::IcMsgType::fcopy, ic_options_for(options)),
      fcopy_options_(std::move(options)) {}

void FcopyDevice::start(std::string file_name, std::string path, std::uint32_t flags, std::uint64_t file_size,
                        Done<std::uint32_t> done) {
  proto::FcopyStart m;
  m.file_name = std::move(file_name);
  m.path_name = std::move(path);
  m.copy_flags = flags;
  m.file_size = file_size;
  request(m, std::move(done));
}

void FcopyDevice::write(std::uint64_t offset, proto::ByteSpan data, Done<std::uint32_t> done) {
  proto::FcopyWrite m;
  m.offset = offset;
  m.data.assign(data.begin(), data.end());
  request(m, std::move(done));
}

void FcopyDevice::complete(Done<std::uint32_t> done) { request(proto::FcopyComplete{}, std::move(done)); }
void FcopyDevice::cancel(Done<std::uint32_t> done) { request(proto::FcopyCancel{}, std::move(done)); }

void FcopyDevice::request(const proto::FcopyMessage& message, Done<std::uint32_t> done) {
  const proto::FcopyOp op = proto::op_of(message);
  std::string label(proto::to_string(op));
  if (const auto* w = std::get_if<proto::FcopyWrite>(&message))
    label += " at offset " + std::to_string(w->offset);
  auto body = proto::encode_fcopy(message);
  if (!body.ok()) {
    done(Status::fail(name() + ": cannot encode " + label, body.error()));
    return;
  }
  send_request(
      proto::IcMsgType::fcopy, *body, fcopy_options_.timeout,
      [this, op, label, done = std::move(done)](Result<IcReply> r) {
        if (!r.ok()) {
          done(r.status());
          return;
        }
        // Both guests answer with the request in place; the operation word
        // tells whether the answer is this request's.
        proto::ByteReader rd(r->body);
        const std::uint32_t answered_op = rd.u32("fcopy.operation");
        if (!rd.ok() || answered_op != static_cast<std::uint32_t>(op)) {
          Status s = rd.ok() ? Status::fail(name() + ": guest answered " + label + " with operation " +
                                            std::to_string(answered_op))
                             : Status::fail(name() + ": malformed answer to " + label, *rd.error());
          note(s.message());
          done(std::move(s));
          return;
        }
        last_ = label + ": " + hresult_string(r->status);
        done(r->status);
      },
      label);
}

void FcopyDevice::copy_file(std::string file_name, std::string path, std::uint32_t flags,
                            proto::ByteSpan bytes, DoneStatus done) {
  auto t = std::make_shared<Transfer>();
  t->file_name = file_name;
  t->bytes.assign(bytes.begin(), bytes.end());
  t->done = std::move(done);
  const std::uint64_t size = t->bytes.size();
  start(std::move(file_name), std::move(path), flags, size, [this, t](Result<std::uint32_t> r) {
    if (!r.ok()) return t->done(Status::fail("copy of " + t->file_name + " failed: " + r.message()));
    if (*r != proto::kHvSOk) {
      return t->done(Status::fail(name() + ": guest answered START_FILE_COPY of " + t->file_name + " with " +
                                  hresult_string(*r)));
    }
    write_next(t);
  });
}

void FcopyDevice::write_next(const std::shared_ptr<Transfer>& t) {
  if (t->offset >= t->bytes.size()) {
    complete([this, t](Result<std::uint32_t> r) {
      if (!r.ok()) return t->done(Status::fail("copy of " + t->file_name + " failed: " + r.message()));
      if (*r != proto::kHvSOk) {
        return t->done(Status::fail(name() + ": guest answered COMPLETE_FCOPY of " + t->file_name + " with " +
                                    hresult_string(*r)));
      }
      ++files_copied_;
      t->done({});
    });
    return;
  }
  const std::size_t n = std::min<std::size_t>(proto::kFcopyDataFragment, t->bytes.size() - t->offset);
  const proto::ByteSpan chunk(t->bytes.data() + t->offset, n);
  write(t->offset, chunk, [this, t, n](Result<std::uint32_t> r) {
    if (!r.ok()) return t->done(Status::fail("copy of " + t->file_name + " failed: " + r.message()));
    if (*r != proto::kHvSOk) {
      return t->done(Status::fail(name() + ": guest answered WRITE_TO_FILE of " + t->file_name +
                                  " at offset " + std::to_string(t->offset) + " with " + hresult_string(*r)));
    }
    bytes_written_ += n;
    t->offset += n;
    write_next(t);
  });
}

DeviceFacts FcopyDevice::facts() const {
  DeviceFacts f = IcDevice::facts();
  f.emplace_back("guest", fcopy_options_.guest == FcopyGuest::uio_daemon ? "uio daemon (Linux 6.12)"
                                                                         : "kernel driver (Linux 6.1)");
  f.emplace_back("files_copied", std::to_string(files_copied_));
  f.emplace_back("bytes_written", std::to_string(bytes_written_));
  if (last_) f.emplace_back("last", *last_);
  return f;
}

}  // namespace vmbh::host
