"""Fault control for runs: `FaultController` (Toxiproxy API client) and `FaultSchedule` (see docs/faults.md)."""

from harness.faults.arrivals import Arrival, ArrivalPage, ArrivalsUnavailable
from harness.faults.client import ActiveFault, FaultControlError, FaultController, FaultSpec, fault_windows
from harness.faults.schedule import FaultSchedule, ScheduleEntry, ScheduleError

__all__ = ["ActiveFault", "Arrival", "ArrivalPage", "ArrivalsUnavailable", "FaultControlError", "FaultController",
           "FaultSchedule", "FaultSpec", "ScheduleEntry", "ScheduleError", "fault_windows"]
