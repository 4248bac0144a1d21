; Inno Setup script for a Windows installer of the PyInstaller bundle. UNTESTED (no Windows here).
;
; On Windows, with Python, the project installed (pip install torch==2.13.0 then pip install .)
; and PyInstaller:
;   pyinstaller --noconfirm packaging\segviewer.spec        -> dist\segviewer\
;   iscc packaging\windows\segviewer.iss                     -> dist\segviewer-0.1.0-windows-setup.exe
; The installer puts the folder under Program Files, adds a Start-menu entry and offers
; "Open with segviewer" for the medical image types (per-user file associations).

#define AppName "segviewer"
#define AppVersion "0.1.0"

[Setup]
AppId={{6F0B8D52-3C64-4C1B-9E0A-5E3B2C6B7A11}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=segviewer
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
OutputDir=..\..\dist
OutputBaseFilename=segviewer-{#AppVersion}-windows-setup
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
; The bundle contains PyMaxflow (GPL-3.0): show the licence terms of the whole bundle.
LicenseFile=..\bundle-README.txt
ChangesAssociations=yes

[Files]
Source: "..\..\dist\segviewer\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\segviewer.exe"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"

[Registry]
Root: HKA; Subkey: "Software\Classes\segviewer.image"; ValueType: string; ValueData: "Medical image"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\segviewer.image\shell\open\command"; ValueType: string; ValueData: """{app}\segviewer.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\.nii\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.gz\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.nrrd\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.mha\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.mhd\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.gipl\OpenWithProgids"; ValueType: string; ValueName: "segviewer.image"; ValueData: ""; Flags: uninsdeletevalue

[Run]
Filename: "{app}\segviewer.exe"; Description: "Open segviewer with the demo"; Flags: nowait postinstall skipifsilent
