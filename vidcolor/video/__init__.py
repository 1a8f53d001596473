"""Video I/O: probe and decode luma planes (reader), encode planes and copy other streams (writer)."""
from vidcolor.video.reader import LumaFrame, LumaReader, VideoInfo, probe
from vidcolor.video.writer import PlaneFormat, VideoWriter, plan_output

__all__ = ["LumaFrame", "LumaReader", "VideoInfo", "probe", "PlaneFormat", "VideoWriter", "plan_output"]
