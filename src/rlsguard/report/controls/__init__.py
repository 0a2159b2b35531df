"""Controls of compliance frameworks and the rlsguard results that give evidence for them."""
