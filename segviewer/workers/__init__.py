"""segviewer.workers"""
