; Inno Setup script: wraps dist\rlhf-studio\ (built by packaging\rlhf_studio.spec on Windows)
; into a per-user setup.exe with a Start-menu entry. Not built in this project's CI (Linux):
; see docs\packaging.md, "Windows". Compile with:  iscc /DVersion=0.1.0 packaging\windows\rlhf-studio.iss
#ifndef Version
  #define Version "0.1.0"
#endif

[Setup]
AppId={{6F1C2B7E-5A4D-4F0B-9C3E-2D7A8B1E4F60}
AppName=RLHF Studio
AppVersion={#Version}
AppPublisher=RLHF Studio
DefaultDirName={localappdata}\Programs\RLHF Studio
DefaultGroupName=RLHF Studio
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=RLHF-Studio-{#Version}-windows-x64-setup
SetupIconFile=..\..\build\package\rlhf-studio.ico
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\rlhf-studio.exe

[Files]
Source: "..\..\dist\rlhf-studio\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\RLHF Studio"; Filename: "{app}\rlhf-studio.exe"
Name: "{userdesktop}\RLHF Studio"; Filename: "{app}\rlhf-studio.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\rlhf-studio.exe"; Description: "Start RLHF Studio"; Flags: nowait postinstall skipifsilent
