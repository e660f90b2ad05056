"""The scheduled job: absence triggers and time-based segments, on a fixed rate."""
