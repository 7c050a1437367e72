// Reconnect delays: exponential from baseMs, capped, with up to 25 % random jitter so a bench of
// gateways that lost the same access point does not retry in lockstep.
#pragma once
#include <cstdint>

namespace tds {

inline uint32_t backoffDelayMs(uint32_t attempt, uint32_t jitterRandom, uint32_t baseMs = 1000, uint32_t capMs = 60000) {
  uint64_t d = baseMs;
  for (uint32_t i = 0; i < attempt && d < capMs; ++i) d *= 2;
  if (d > capMs) d = capMs;
  const uint64_t jitter = d / 4 == 0 ? 0 : jitterRandom % (d / 4 + 1);
  return static_cast<uint32_t>(d - jitter);
}

}  // namespace tds
