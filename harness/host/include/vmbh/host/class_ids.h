// Class ids (if_type) of the integration components, which select the guest
// driver, and the one instance id a guest depends on. Values from Linux's
// include/linux/hyperv.h (HV_*_GUID).
#pragma once

#include "vmbh/protocols/guid.h"

namespace vmbh::host::class_ids {

// Function-local statics: safe to use from other static initializers.
inline const proto::Guid& heartbeat() {
  static const proto::Guid g = proto::Guid::from_string("57164f39-9115-4e78-ab55-382f3bd5422d");
  return g;
}
inline const proto::Guid& shutdown() {
  static const proto::Guid g = proto::Guid::from_string("0e0b6031-5213-4934-818b-38d90ced39db");
  return g;
}
inline const proto::Guid& timesync() {
  static const proto::Guid g = proto::Guid::from_string("9527e630-d0ae-497b-adce-e80ab0175caf");
  return g;
}
inline const proto::Guid& kvp() {
  static const proto::Guid g = proto::Guid::from_string("a9a0f4e7-5a45-4d96-b827-8a841e8c03e6");
  return g;
}
inline const proto::Guid& vss() {
  static const proto::Guid g = proto::Guid::from_string("35fa2e29-ea23-4236-96ae-3a6ebacba440");
  return g;
}
inline const proto::Guid& fcopy() {
  static const proto::Guid g = proto::Guid::from_string("34d14be3-dee4-41c8-9ae7-6b174977c192");
  return g;
}

// Linux 6.12 has no fcopy kernel driver: uio_hv_generic binds the fcopy class
// and hv_fcopy_uio_daemon opens
// /sys/bus/vmbus/devices/eb765408-105f-49b6-b4aa-c123b64d17d4/uio, so the
// channel must be offered with exactly this instance id (Hyper-V's).
inline const proto::Guid& fcopy_uio_instance() {
  static const proto::Guid g = proto::Guid::from_string("eb765408-105f-49b6-b4aa-c123b64d17d4");
  return g;
}

}  // namespace vmbh::host::class_ids
