"""Simulated devices (GATT level), physiology, the emulated bleak backend and fleets."""
