"""QObjects that turn engine and core callbacks into Qt signals."""
