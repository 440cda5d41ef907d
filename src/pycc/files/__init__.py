"""The file server: call recordings and IVR prompts stored under the data directory,
catalogued with their SHA-256, listed and downloaded through the admin API by those
allowed, recordings deleted when their tenant's retention says.

`FileService` is what the switch runs and the API uses; `pycc.files.names` checks every
name before a path is made from it.
"""

from __future__ import annotations

from pycc.files.audio import AudioError, AudioInfo, content_type, probe
from pycc.files.names import FileNameError, check_prompt_name, check_relative_path
from pycc.files.service import FileService, NotHere

__all__ = [
    "AudioError",
    "AudioInfo",
    "FileNameError",
    "FileService",
    "NotHere",
    "check_prompt_name",
    "check_relative_path",
    "content_type",
    "probe",
]
