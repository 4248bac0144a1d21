"""segviewer.tools"""
